// hub.h — Hugging Face names (`ORG/NAME`, `ORG/NAME@REV`) resolved in the local hub cache, offline.
//
// The cache is what `hf download` / `huggingface-cli download` / transformers leave behind:
//   CACHE/models--ORG--NAME/refs/main              the commit hash a branch or tag points at
//   CACHE/models--ORG--NAME/snapshots/COMMIT/...   the repository's files, symlinks into blobs/
//   CACHE/models--ORG--NAME/blobs/ETAG             the file contents
// CACHE is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (older name), else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (huggingface_hub's constants.py).
//
//   char *dir;
//   if (dlm_hub_is_name(arg) && dlm_hub_resolve(arg, &dir) == DLM_STATUS_OK) ... free(dir);
#ifndef DLM_HUB_H
#define DLM_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

// The cache folder (it need not exist). Caller frees.
char *dlm_hub_cache_dir(void);

// Whether text is a hub repository id ORG/NAME with an optional @REV (letters, digits, '-', '_',
// '.'; no "--" or ".."; REV without ".." parts). Paths like "./x", "/x" or "a/b/c" are not.
bool dlm_hub_is_name(const char *text);

// The snapshot folder of ORG/NAME at REV (default main): REV is a branch or tag under refs/, or
// a commit hash under snapshots/. On failure one message names the folder looked in and the
// command that downloads the model. Caller frees *dir.
dlm_status dlm_hub_resolve(const char *name, char **dir);

// "ORG/NAME" when dir is a snapshot folder of a hub cache (.../models--ORG--NAME/snapshots/REV);
// false (buf untouched) otherwise. For display: traces name the model as the hub does.
bool dlm_hub_name_of(const char *dir, char *buf, size_t n);

#endif
