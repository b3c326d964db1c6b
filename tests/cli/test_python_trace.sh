# The Python trace writer (python/dlmscope): randomised round trips through the C reader, its rule
# table against the C one, a SIGKILLed recording, ranks, batches, Dream's hook and argument errors.
# Needs python3 with numpy and msgpack (Debian: python3-numpy python3-msgpack); torch is optional
# (with it, torch tensors are fed too).
. tests/cli/lib.sh
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3) || skip "no python3: the Python trace writer is untested"
"$PY" -c "import numpy, msgpack" 2>/dev/null || skip "$PY lacks numpy or msgpack (apt install python3-numpy python3-msgpack): the Python trace writer is untested"

"$PY" tests/python/test_recorder.py "$DLMSCOPE" && ok || fail "test_recorder.py"
"$PY" tests/python/test_roundtrip.py "$DLMSCOPE" 25 && ok || fail "test_roundtrip.py"
finish
