// player.h — a cursor over a trace: step forward and back, seek, and search.
//
// The player holds the decoded current step. Searches decode steps on the way (or use the
// per-step scalars gathered by the reader's scan, for block starts and stuck sets).
//
//   dlm_player *p = dlm_player_new(trace);
//   dlm_player_seek(p, 0);
//   while (dlm_player_next(p) == DLM_STATUS_OK) draw(dlm_player_step(p));
#ifndef DLM_PLAYER_H
#define DLM_PLAYER_H

#include "engine/session.h"
#include "trace_reader.h"

typedef struct dlm_player dlm_player;

// The trace must outlive the player. The cursor starts before step 0 (no step loaded).
dlm_player *dlm_player_new(dlm_trace *t);
void dlm_player_free(dlm_player *p);

// Current step index (-1 before the first) and its decoded snapshot (NULL before the first).
int dlm_player_index(const dlm_player *p);
const dlm_step *dlm_player_step(const dlm_player *p);
int dlm_player_n_steps(const dlm_player *p);

// Move to step i (clamped to [0, n-1]). Errors come from decoding (a damaged record).
dlm_status dlm_player_seek(dlm_player *p, int i);
dlm_status dlm_player_next(dlm_player *p); // DLM_STATUS_ARG at the end
dlm_status dlm_player_prev(dlm_player *p); // DLM_STATUS_ARG at the start

// Searches return the found step index (and move there), or -1 (the cursor stays).
// dir: +1 forward from the current step (exclusive), -1 backward.
int dlm_player_block_start(dlm_player *p, int block);         // first step of a block
int dlm_player_next_event(dlm_player *p, int position, int dir); // something happened at a position
int dlm_player_next_stuck(dlm_player *p, int dir);            // the stuck set is not empty
// Events of kind mask (DLM_EVENT_* bits) anywhere, e.g. edits or remasks.
int dlm_player_next_kind(dlm_player *p, int event_mask, int dir);

#endif
