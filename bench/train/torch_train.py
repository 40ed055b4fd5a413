#!/usr/bin/python3
"""PyTorch side of the training benchmark: the same GPT-2 as bench_train.c
(pre-LN, gelu_new, causal attention, tied lm_head, Conv1D weights [in, out])
trained with the same batch on the same threads: zero grad, forward,
cross-entropy, backward, clip_grad_norm_(1.0), AdamW (betas 0.9/0.95,
weight decay 0.1 on matrices).  torch 1.13 (no fused attention kernels).

  torch_train.py N_LAYER N_EMBD N_HEAD N_CTX VOCAB B T STEPS THREADS
"""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

L, C, H, P, V, B, T, steps, threads = map(int, sys.argv[1:10])
torch.set_num_threads(threads)
torch.manual_seed(1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.ln_2 = nn.LayerNorm(C)
        self.attn_w = nn.Parameter(torch.randn(C, 3 * C) * 0.02)
        self.attn_b = nn.Parameter(torch.zeros(3 * C))
        self.proj_w = nn.Parameter(torch.randn(C, C) * 0.02)
        self.proj_b = nn.Parameter(torch.zeros(C))
        self.fc_w = nn.Parameter(torch.randn(C, 4 * C) * 0.02)
        self.fc_b = nn.Parameter(torch.zeros(4 * C))
        self.fc2_w = nn.Parameter(torch.randn(4 * C, C) * 0.02)
        self.fc2_b = nn.Parameter(torch.zeros(C))

    def forward(self, x, mask):
        b, t, _ = x.shape
        h = torch.addmm(self.attn_b, self.ln_1(x).view(-1, C), self.attn_w).view(b, t, 3 * C)
        q, k, v = h.split(C, dim=2)
        q = q.view(b, t, H, C // H).transpose(1, 2)
        k = k.view(b, t, H, C // H).transpose(1, 2)
        v = v.view(b, t, H, C // H).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(C // H))
        s = s.masked_fill(mask[:t, :t], float("-inf"))
        y = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b * t, C)
        x = x + torch.addmm(self.proj_b, y, self.proj_w).view(b, t, C)
        m = F.gelu(torch.addmm(self.fc_b, self.ln_2(x).view(-1, C), self.fc_w), approximate="tanh")
        return x + torch.addmm(self.fc2_b, m, self.fc2_w).view(b, t, C)


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Parameter(torch.randn(V, C) * 0.02)
        self.wpe = nn.Parameter(torch.randn(P, C) * 0.02)
        self.h = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)
        self.register_buffer("mask", torch.triu(torch.ones(P, P, dtype=torch.bool), 1))

    def forward(self, ids, targets):
        x = F.embedding(ids, self.wte) + self.wpe[: ids.shape[1]]
        for blk in self.h:
            x = blk(x, self.mask)
        logits = F.linear(self.ln_f(x), self.wte)
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


model = GPT()
decay = [p for p in model.parameters() if p.dim() == 2]
nodecay = [p for p in model.parameters() if p.dim() != 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                         {"params": nodecay, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.95))
g = torch.Generator().manual_seed(7)
times, cpu = [], []
for s in range(steps + 2):
    ids = torch.randint(0, V, (B, T), generator=g)
    tg = torch.randint(0, V, (B, T), generator=g)
    t0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    loss = model(ids, tg)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    if s >= 2:
        times.append(dt)
        cpu.append(dc)
        print("torch step %d: %.4f s, loss %.4f" % (s - 1, dt, loss.item()))
times.sort()
cpu.sort()
med, medc = times[len(times) // 2], cpu[len(cpu) // 2]
print("torch median: %.4f s/step, %.4f cpu-s/step, %.0f tokens/s (B=%d T=%d threads=%d, %d params)"
      % (med, medc, B * T / med, B, T, threads, sum(p.numel() for p in model.parameters())))
