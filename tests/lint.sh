#!/bin/sh
# lint.sh — enforce the one-way dependencies of DESIGN.md:
#   tui -> replay -> record -> engine (public types only);  tui -> engine;  cli -> everything.
# eval/ (checkers, evaluation runner) uses engine, record and replay, never the UI.
# engine/ includes neither ncurses, termkey, msgpack nor another module; CUDA headers only in
# engine/*.cu; record/ and replay/ never include curses or CUDA; tui/ never includes CUDA or msgpack.
cd "$(dirname "$0")/.."
status=0
check() { # DIR PATTERN WHY
    hits=$(grep -nE "#include *[<\"]($2)" $(find "$1" -name '*.[ch]' 2>/dev/null) /dev/null 2>/dev/null)
    if [ -n "$hits" ]; then
        echo "lint: $1 must not include $3:"
        echo "$hits" | sed 's/^/  /'
        status=1
    fi
}
check engine 'ncurses|curses|termkey|msgpack|record/|replay/|tui/|cli/|eval/|cuda|cublas' 'UI, msgpack, CUDA or higher modules'
check record 'ncurses|curses|termkey|replay/|tui/|cli/|eval/|cuda|cublas' 'UI, CUDA or higher modules'
check replay 'ncurses|curses|termkey|tui/|cli/|eval/|cuda|cublas' 'UI, CUDA or higher modules'
check tui 'cuda|cublas|msgpack|cli/|eval/' 'CUDA, msgpack, the CLI or the evaluator'
check eval 'ncurses|curses|termkey|tui/|cli/|cuda|cublas|msgpack' 'UI, CUDA, msgpack or the CLI'
# No CUDA types in any header outside engine/*.cu{,h}.
hits=$(grep -nE '\b(cudaStream_t|cublasHandle_t|__half|__nv_bfloat16|cudaError_t)\b' $(find engine record replay tui cli -name '*.h') /dev/null)
if [ -n "$hits" ]; then echo "lint: CUDA types in public headers:"; echo "$hits" | sed 's/^/  /'; status=1; fi
# Rules are known through their operations tables (engine/rules/rule.h): no switch on the kind.
hits=$(grep -rnE 'case +DLM_RULE_[A-Z0-9_]+ *:' engine record replay tui cli eval /dev/null)
if [ -n "$hits" ]; then echo "lint: a switch on the rule kind (use the rule's operations table):"; echo "$hits" | sed 's/^/  /'; status=1; fi
[ $status -eq 0 ] && echo "lint: include rules ok"
exit $status
