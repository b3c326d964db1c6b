"""dlmscope: record masked-diffusion decoding loops as dlmscope traces (docs/recording.md).

    import dlmscope
    with dlmscope.Recorder("run.dlmtrace", tokenizer=tok, rule="llada", params=dict(gen=128, block=32),
                           prompt=prompt_ids, model=model_dir) as rec:
        ... rec.step(x, logits)   # once per refinement step

The trace opens in `dlmscope view`, `dlmscope trace info|dump|diff` and the compare view.
"""

from .format import TraceWriter
from .recorder import BatchRecorder, Recorder, __version__, model_identity, process_rank
from .rules import RULES, Rule

__all__ = ["Recorder", "BatchRecorder", "TraceWriter", "Rule", "RULES", "model_identity", "process_rank",
           "__version__"]
