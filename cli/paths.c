// paths.c — where the installed (or checked-out) data lives, and what --model/--adapter name.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "engine/hub.h"
#include "engine/util.h"
#include "gen/buildinfo.h"

// A data folder holds samples/ (bundled model, prompts, tasks, traces) and themes/.
static bool is_data_dir(const char *dir) {
    char *p = dlm_path_join(dir, "samples");
    bool ok = dlm_is_dir(p);
    free(p);
    return ok;
}

const char *cli_data_dir(void) {
    static char found[4096];
    static bool searched;
    if (searched) return found[0] ? found : NULL;
    searched = true;
    const char *env = getenv("DLMSCOPE_DATA");
    if (env && *env) { // told where: no guessing, even if it is wrong (the caller says what is missing)
        snprintf(found, sizeof found, "%s", env);
        return found;
    }
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char cand[3][4096] = {{0}};
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        // the checkout (./dlmscope next to samples/), then an installed tree wherever it was moved
        snprintf(cand[0], sizeof cand[0], "%s", exe);
        snprintf(cand[1], sizeof cand[1], "%s/../share/dlmscope", exe);
    }
    snprintf(cand[2], sizeof cand[2], "%s", DLM_DATADIR); // the prefix it was built for
    for (int i = 0; i < 3; i++)
        if (cand[i][0] && is_data_dir(cand[i])) {
            char *real = realpath(cand[i], NULL);
            snprintf(found, sizeof found, "%s", real ? real : cand[i]);
            free(real);
            return found;
        }
    if (is_data_dir(".")) snprintf(found, sizeof found, "."); // run from a checkout with another binary
    return found[0] ? found : NULL;
}

char *cli_data_path(const char *rel) {
    const char *dir = cli_data_dir();
    return dir ? dlm_path_join(dir, rel) : dlm_xstrdup(rel);
}

char *cli_model_folder(const char *cmd, const char *option, const char *value) {
    if (dlm_is_dir(value)) return dlm_xstrdup(value);
    if (!strchr(value, '/')) { // a bundled model by name ("dlm-tiny")
        char rel[512];
        snprintf(rel, sizeof rel, "samples/models/%s", value);
        char *p = cli_data_path(rel);
        if (dlm_is_dir(p)) return p;
        free(p);
    }
    if (dlm_hub_is_name(value)) {
        char *dir;
        if (dlm_hub_resolve(value, &dir) != DLM_STATUS_OK) {
            cli_error(cmd, "--%s %s", option, dlm_error_message());
            return NULL;
        }
        return dir;
    }
    return dlm_xstrdup(value); // the loader says what is wrong with it
}
