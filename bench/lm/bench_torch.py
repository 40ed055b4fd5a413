#!/usr/bin/python3
"""bench_torch.py - PyTorch (Debian's python3-torch) on the same checkpoint and shapes as
bench_lm.c, through ../shared/lmref/reference.py's GPT2Model (plain torch ops: addmm,
matmul, softmax, layer_norm; addmv for one-row decode).

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench_torch.py MODEL_DIR THREADS [REPEATS]

Prints "key value" lines like bench_lm."""
import os, re, resource, sys, time
sys.modules.setdefault("regex", re)  # reference.py's BPE needs regex; not used here
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "lmref"))
import torch  # noqa: E402
import reference as R  # noqa: E402

model_dir, nt = sys.argv[1], int(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.set_num_threads(nt)
print("torch", torch.__version__)
print("threads", torch.get_num_threads())
t0 = time.time()
m = R.GPT2Model(model_dir)
print("load_s %.3f" % (time.time() - t0))
g = torch.Generator().manual_seed(42)
ids = torch.randint(0, m.cfg["vocab_size"], (16, 128), generator=g)


def med(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


with torch.inference_mode():
    for B, T in ((16, 64), (1, 128)):
        x = ids[:B, :T].contiguous()
        m.forward(x, logits=None)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            m.forward(x, logits=None)
            ts.append(B * T / (time.perf_counter() - t0))
        print("forward_%dx%d_tokens_per_s %.1f" % (B, T, med(ts)))
    prompt = ids[0, :16].tolist()
    ts = []
    for r in range(4):
        t0 = time.perf_counter()
        o = m.forward(torch.tensor([prompt]), logits="last", use_cache=True)
        t_pre = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = m.generate(prompt, 64, use_cache=True)
        dt = time.perf_counter() - t0 - t_pre
        if r > 0:
            ts.append((len(out["new_ids"]) - 1) / dt)
    print("generate_b1_tokens_per_s %.2f" % med(ts))
print("peak_rss_bytes %d" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
