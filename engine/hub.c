// hub.c — Hugging Face hub cache lookups (layout and variables in hub.h).
#include "hub.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

// "~/x" -> "$HOME/x", as huggingface_hub's expanduser does for its variables.
static char *expand_home(const char *path) {
    const char *home = getenv("HOME");
    if (path[0] == '~' && (path[1] == '/' || path[1] == 0) && home && *home)
        return path[1] ? dlm_path_join(home, path + 2) : dlm_xstrdup(home);
    return dlm_xstrdup(path);
}

char *dlm_hub_cache_dir(void) {
    static const char *const direct[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"};
    for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++) {
        const char *v = getenv(direct[i]);
        if (v && *v) return expand_home(v);
    }
    const char *hf_home = getenv("HF_HOME"), *xdg = getenv("XDG_CACHE_HOME");
    char *base;
    if (hf_home && *hf_home) {
        base = expand_home(hf_home);
    } else {
        char *cache = xdg && *xdg ? expand_home(xdg) : expand_home("~/.cache");
        base = dlm_path_join(cache, "huggingface");
        free(cache);
    }
    char *dir = dlm_path_join(base, "hub");
    free(base);
    return dir;
}

// One part of a repo id (huggingface_hub's validate_repo_id): [A-Za-z0-9_.-]{1,96}, not starting
// or ending with '-' or '.', no "--" or "..".
static bool id_part_ok(const char *s, size_t len) {
    if (len == 0 || len > 96) return false;
    if (s[0] == '-' || s[0] == '.' || s[len - 1] == '-' || s[len - 1] == '.') return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!word && c != '-' && c != '.') return false;
        if (i > 0 && (c == '-' || c == '.') && s[i - 1] == c) return false;
    }
    return true;
}

// A branch, tag or commit: [A-Za-z0-9_./-], no "..", no leading, trailing or doubled '/'.
static bool rev_ok(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len > 200 || s[0] == '/' || s[len - 1] == '/' || strstr(s, "..") || strstr(s, "//")) return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_.-/", *c)))
            return false;
    return true;
}

bool dlm_hub_is_name(const char *text) {
    const char *at = strchr(text, '@'), *end = at ? at : text + strlen(text);
    const char *slash = memchr(text, '/', (size_t)(end - text));
    if (!slash || memchr(slash + 1, '/', (size_t)(end - slash - 1))) return false;
    return id_part_ok(text, (size_t)(slash - text)) && id_part_ok(slash + 1, (size_t)(end - slash - 1)) &&
           (!at || rev_ok(at + 1));
}

// "; cached: REV, REV" listing up to four snapshot folders (what the user could name with @REV).
static void list_snapshots(const char *repo, char *buf, size_t n) {
    buf[0] = 0;
    char *snaps = dlm_path_join(repo, "snapshots");
    DIR *d = opendir(snaps);
    free(snaps);
    if (!d) return;
    int shown = 0, more = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (shown == 4) {
            more++;
            continue;
        }
        size_t o = strlen(buf);
        snprintf(buf + o, n - o, "%s%s", shown ? ", " : "; cached snapshots: ", e->d_name);
        shown++;
    }
    closedir(d);
    if (more) {
        size_t o = strlen(buf);
        snprintf(buf + o, n - o, " and %d more", more);
    }
}

dlm_status dlm_hub_resolve(const char *name, char **dir) {
    *dir = NULL;
    if (!dlm_hub_is_name(name)) return dlm_error(DLM_STATUS_ARG, "'%s' is not a Hugging Face name ORG/NAME[@REV]", name);
    const char *at = strchr(name, '@');
    size_t id_len = at ? (size_t)(at - name) : strlen(name);
    const char *rev = at ? at + 1 : "main";
    char id[256], folder[300], download[700];
    snprintf(id, sizeof id, "%.*s", (int)id_len, name);
    const char *slash = strchr(id, '/');
    snprintf(folder, sizeof folder, "models--%.*s--%s", (int)(slash - id), id, slash + 1);
    snprintf(download, sizeof download, "download it with: hf download %s%s%s (older huggingface_hub: huggingface-cli download)",
             id, at ? " --revision " : "", at ? rev : "");

    char *cache = dlm_hub_cache_dir();
    char *repo = dlm_path_join(cache, folder);
    free(cache);
    dlm_status st = DLM_STATUS_OK;
    char *ref_path = NULL, *commit = NULL, *snap = NULL;
    if (!dlm_is_dir(repo)) {
        st = dlm_error(DLM_STATUS_IO, "%s is neither a folder nor in the Hugging Face cache (looked in %s); %s", name, repo,
                       download);
        goto done;
    }
    // refs/REV names a branch or tag; otherwise REV is a commit (a snapshot folder name).
    char refs_rel[256];
    snprintf(refs_rel, sizeof refs_rel, "refs/%s", rev);
    ref_path = dlm_path_join(repo, refs_rel);
    bool from_ref = dlm_file_exists(ref_path);
    if (from_ref) {
        if ((st = dlm_read_file(ref_path, 4096, &commit, NULL)) != DLM_STATUS_OK) goto done;
        size_t len = strlen(commit);
        while (len && (commit[len - 1] == '\n' || commit[len - 1] == '\r' || commit[len - 1] == ' ')) commit[--len] = 0;
        if (!len || strchr(commit, '/') || !rev_ok(commit)) {
            st = dlm_error(DLM_STATUS_FORMAT, "%s: not a commit hash", ref_path);
            goto done;
        }
    } else {
        commit = dlm_xstrdup(rev);
    }
    char snap_rel[300];
    snprintf(snap_rel, sizeof snap_rel, "snapshots/%s", commit);
    snap = dlm_path_join(repo, snap_rel);
    if (!dlm_is_dir(snap)) {
        char cached[512];
        list_snapshots(repo, cached, sizeof cached);
        if (from_ref)
            st = dlm_error(DLM_STATUS_IO, "%s: %s points at %s, but %s is missing (an interrupted download?); %s", name,
                           ref_path, commit, snap, download);
        else
            st = dlm_error(DLM_STATUS_IO, "%s: no revision '%s' in the Hugging Face cache (looked for %s and %s%s); %s",
                           name, rev, ref_path, snap, cached, download);
        goto done;
    }
    *dir = snap;
    snap = NULL;
done:
    free(repo);
    free(ref_path);
    free(commit);
    free(snap);
    return st;
}

bool dlm_hub_name_of(const char *dir, char *buf, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') path[--len] = 0;
    // .../models--ORG--NAME/snapshots/REV: peel REV, then "snapshots", then the repo folder.
    char *parts[3];
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(path, '/');
        parts[i] = slash ? slash + 1 : path;
        if (i < 2) {
            if (!slash) return false;
            *slash = 0;
        }
    }
    if (strcmp(parts[1], "snapshots") != 0 || strncmp(parts[2], "models--", 8) != 0) return false;
    const char *org = parts[2] + 8, *sep = strstr(org, "--");
    if (!sep || !id_part_ok(org, (size_t)(sep - org)) || !id_part_ok(sep + 2, strlen(sep + 2))) return false;
    snprintf(buf, n, "%.*s/%s", (int)(sep - org), org, sep + 2);
    return true;
}
