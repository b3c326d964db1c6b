// actions.h — everything a key can do: X(ENUM, "name", "help"). The name is what the config file's
// `bind KEY NAME` uses; the help text is what the help overlay shows. Actions never draw.
#ifndef DLM_TUI_ACTIONS_H
#define DLM_TUI_ACTIONS_H

#define TUI_ACTIONS(X)                                                                        \
    X(QUIT, "quit", "quit (restores the terminal)")                                          \
    X(HELP, "help", "show or hide this help")                                                 \
    X(PLAY, "play", "play / pause")                                                           \
    X(STEP_FWD, "step-forward", "next step (live: runs the model past the last one)")        \
    X(STEP_BACK, "step-back", "previous step")                                                \
    X(STEP_FWD10, "step-forward-10", "ten steps forward")                                     \
    X(STEP_BACK10, "step-back-10", "ten steps back")                                          \
    X(FIRST, "first", "first step")                                                           \
    X(LAST, "last", "last step")                                                              \
    X(JUMP, "jump", "jump to 0-90% of the trajectory (digit keys)")                           \
    X(PREV_BLOCK, "prev-block", "start of the previous block")                                \
    X(NEXT_BLOCK, "next-block", "start of the next block")                                    \
    X(NEXT_EVENT, "next-event", "next step where something happens at the selected position") \
    X(PREV_EVENT, "prev-event", "previous step where something happened at the position")    \
    X(NEXT_CHANGE, "next-change", "next edit or remask anywhere")                             \
    X(PREV_CHANGE, "prev-change", "previous edit or remask")                                  \
    X(NEXT_STUCK, "next-stuck", "next step with a stuck token")                               \
    X(PREV_STUCK, "prev-stuck", "previous step with a stuck token")                           \
    X(GOTO, "goto", "go to step N")                                                           \
    X(FASTER, "faster", "play faster")                                                        \
    X(SLOWER, "slower", "play slower")                                                        \
    X(LEFT, "left", "select the previous position (heat grid: earlier position)")             \
    X(RIGHT, "right", "select the next position")                                             \
    X(UP, "up", "canvas: the line above; heat grid: previous step")                           \
    X(DOWN, "down", "canvas: the line below; heat grid: next step")                           \
    X(FOCUS, "focus", "move the keyboard focus between canvas and heat grid")                 \
    X(METRIC, "metric", "heat grid: confidence, p(current token), margin, entropy")           \
    X(SEARCH, "search", "search the text for a string")                                       \
    X(SEARCH_NEXT, "search-next", "next match")                                               \
    X(SEARCH_PREV, "search-prev", "previous match")                                           \
    X(TOGGLE_T2X, "toggle-t2t-t2m", "live: switch T2T editing <-> T2M remasking (forks here)") \
    X(TOGGLE_EVO, "toggle-evotoken", "live: EvoToken soft tokens on / off (forks here)")      \
    X(NEXT_RULE, "next-rule", "live: next decoding rule (forks here)")                        \
    X(PARAMS, "params", "rule parameters: adjust, then Enter forks with them")                \
    X(FORCE, "force", "force a top-K candidate or typed token here (forks)")                 \
    X(REMASK, "remask", "remask the selected position (forks here)")                          \
    X(PIN, "pin", "pin / unpin the selected position: no rule changes it")                    \
    X(COMPARE, "compare", "compare two trajectories side by side")                            \
    X(DEMO, "demo", "demo mode: autoplay with captions")                                      \
    X(INSPECTOR, "inspector", "show / hide the position inspector")                           \
    X(HEAT, "heat", "show / hide the heat grid")                                              \
    X(ZOOM, "zoom", "heat grid: 1-16 steps per row, every step on screen, one row per block") \
    X(CAND, "candidates", "show / hide the candidates grid (top-K of every position)")         \
    X(PROMPT, "prompt", "live: type a new prompt and restart")                                \
    X(REDRAW, "redraw", "redraw the screen")                                                  \
    X(CANCEL, "cancel", "close a panel, stop playing, cancel the running step")

typedef enum {
#define X(e, name, help) TUI_ACTION_##e,
    TUI_ACTIONS(X)
#undef X
    TUI_ACTION_COUNT
} tui_action;

const char *tui_action_name(tui_action a);
const char *tui_action_help(tui_action a);
int tui_action_find(const char *name); // -1 if unknown

#endif
