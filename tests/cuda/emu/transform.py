#!/usr/bin/env python3
"""transform.py IN.cu OUT.cpp: make engine/backend_cuda.cu compile as C++ against cuda_emu.h.

Swaps the CUDA headers for cuda_emu.h, turns `extern __shared__` into the emulator's per-launch
buffer, and rewrites every `name<<<grid, block, smem, stream>>>(args);` into
`emu_launch(&name, grid, block, smem, stream, [&]() { name(args); });`. Test only (make test-cuda-emu).
"""
import re, sys
src = open(sys.argv[1]).read()
# Line for line, so that compiler and sanitizer reports point into the .cu file (#line below).
for old, new in [('#include <cublas_v2.h>\n', '#include "cuda_emu.h"\n'), ('#include <cuda_bf16.h>\n', '\n'),
                 ('#include <cuda_runtime.h>\n', '\n'),
                 ('extern __shared__ float smem[];', 'float *smem = (float *)emu_dyn_smem();')]:
    if old not in src:
        sys.exit('transform.py: %s: no %r to replace: update the emulator' % (sys.argv[1], old.strip()))
    src = src.replace(old, new)
src = '#line 1 "%s"\n' % sys.argv[1] + src
out = []; i = 0
pat = re.compile(r'([A-Za-z_]\w*(?:<\d+>)?)<<<')
while True:
    m = pat.search(src, i)
    if not m: out.append(src[i:]); break
    out.append(src[i:m.start()])
    name = m.group(1)
    j = src.index('>>>', m.end())
    cfg = src[m.end():j]
    assert src[j+3] == '('
    depth = 0; k = j + 3
    while True:
        ch = src[k]
        if ch == '(': depth += 1
        elif ch == ')':
            depth -= 1
            if depth == 0: break
        k += 1
    args = src[j+4:k]
    assert src[k+1] == ';'
    out.append('emu_launch((const void *)&%s, %s, [&]() { %s(%s); })' % (name, cfg, name, args))
    i = k + 1
open(sys.argv[2], 'w').write(''.join(out))
