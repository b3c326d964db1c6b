// cmd_synth.c — `dlmscope synth`: write a random-weight checkpoint of a given shape.
//
// Models of any size without a download, in each family's real tensor names and config keys
// (engine/synth.c), bf16/f16/f32, optionally sharded with an index (llada-8b: 16 GB in six
// shards, as the real checkpoint).
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "commands.h"
#include "engine/synth.h"
#include "engine/util.h"

int cmd_synth(int argc, char **argv) {
    cli_opt opts[] = {{"shape", "NAME", "tiny, small (the bundled model's size), medium, llada-8b, or a family's: dream-7b, "
                                        "a2d-qwen3-0.6b, a2d-qwen2.5-0.5b, sdar-1.7b, fast-dllm-v2-1.5b, llada2-mini, llada-moe-7b, *-tiny (required)"},
                      {"out", "DIR", "output folder, created if missing (required)"},
                      {"dtype", "TYPE", "BF16 (default), F16 or F32"},
                      {"shards", "N", "number of safetensors shards (default: 1; llada-8b: 6, dream-7b: 4)"},
                      {"seed", "N", "weights seed (default 1)"},
                      {"layers", "N", "keep the shape's layer widths but write N layers (a slice of a large model)"},
                      {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("synth", "--shape NAME --out DIR [--dtype BF16] [--shards N]", opts, argc, argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    dlm_synth_spec spec;
    long long shards, seed, layers;
    const char *dtype = cli_has(opts, "dtype") ? cli_get(opts, "dtype") : "BF16";
    if (!cli_has(opts, "shape") || !cli_has(opts, "out")) {
        cli_error("synth", "--shape and --out are required");
        goto done;
    }
    if (!dlm_synth_preset(cli_get(opts, "shape"), &spec)) {
        cli_error("synth", "--shape '%s': expected one of %s", cli_get(opts, "shape"), dlm_synth_preset_names());
        goto done;
    }
    if (strcmp(dtype, "BF16") && strcmp(dtype, "F16") && strcmp(dtype, "F32")) {
        cli_error("synth", "--dtype '%s': expected BF16, F16 or F32", dtype);
        goto done;
    }
    if (!cli_get_int("synth", opts, "shards", 1, 99999, spec.n_shards, &shards) ||
        !cli_get_int("synth", opts, "seed", 0, INT32_MAX, 1, &seed) ||
        !cli_get_int("synth", opts, "layers", 1, 1024, spec.cfg.n_layers, &layers))
        goto done;
    spec.cfg.n_layers = (int)layers;
    if (spec.cfg.n_dense_layers > spec.cfg.n_layers) spec.cfg.n_dense_layers = spec.cfg.n_layers;
    spec.dtype = dtype;
    spec.n_shards = (int)shards;
    spec.seed = (uint64_t)seed;
    const char *out = cli_get(opts, "out");
    if (mkdir(out, 0777) != 0 && !dlm_is_dir(out)) {
        cli_error("synth", "--out %s: cannot create the folder", out);
        goto done;
    }
    double t0 = dlm_now();
    if (dlm_synth_write(out, &spec) != DLM_STATUS_OK) {
        cli_error("synth", "%s", dlm_error_message());
        goto done;
    }
    fprintf(stderr, "dlmscope synth: %s (%s, %d shard%s) written to %s in %.1f s\n", cli_get(opts, "shape"), dtype,
            spec.n_shards, spec.n_shards == 1 ? "" : "s", out, dlm_now() - t0);
    status = 0;
done:
    cli_free(opts, &pos);
    return status;
}
