# `pip install ./python` gives an importable dlmscope package that writes traces the C reader
# accepts (installed into a scratch folder, offline: no build isolation, dependencies from Debian).
. tests/cli/lib.sh
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3) || skip "no python3: pip install ./python untested"
"$PY" -c "import setuptools, pip, numpy, msgpack" 2>/dev/null ||
    skip "$PY lacks pip, setuptools, numpy or msgpack (apt install python3-pip python3-setuptools python3-numpy python3-msgpack): pip install ./python untested"
cp -r python "$TMP/src"             # setuptools writes build/ and *.egg-info next to the sources
rm -rf "$TMP/src/build" "$TMP/src"/*.egg-info
expect_ok "pip install" "$PY" -m pip install --no-build-isolation --no-deps --no-index --target "$TMP/site" "$TMP/src"
[ -f "$TMP/site/dlmscope/recorder.py" ] && ok || fail "pip install: no dlmscope/recorder.py in the target"
cd "$TMP"                           # import the installed copy, not the repository's
expect_ok "import and record" env PYTHONPATH="$TMP/site" "$PY" -c '
import numpy as np, dlmscope
assert dlmscope.__file__.startswith("'"$TMP"'/site/"), dlmscope.__file__
with dlmscope.Recorder("t.dlmtrace", rule="threshold", params=dict(gen=4, block=4), prompt=[1, 2], mask_id=9, n_vocab=10) as rec:
    rec.step(np.array([1, 2, 3, 4, 5, 6]), np.eye(10)[[0, 0, 3, 4, 5, 6]] * 9)
'
expect_ok "trace info" "$DLMSCOPE" trace info "$TMP/t.dlmtrace"
grep -q "^steps      1 in 1 block; 4 commits" "$TMP/stdout" && ok || fail "installed package's trace: $(cat "$TMP/stdout")"
finish
