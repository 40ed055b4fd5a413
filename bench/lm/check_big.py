"""check_big.py - reference hidden states, logits and 16 greedy ids of the GPT-2-124M-shaped
checkpoint for bench/lm/check_big.c (the 1e-3 tolerance of lmref's README).
  /usr/bin/python3 bench/lm/check_big.py MODEL_DIR OUT.json"""
import os, sys, re, json
sys.modules['regex'] = re
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'lmref'))
import torch, reference as R
torch.set_num_threads(1)
m = R.GPT2Model(sys.argv[1])
ids = [464, 6290, 5284, 2952, 290, 4197, 13, 50256, 11, 2, 40000, 1000, 2000, 3000, 4000, 5000]
with torch.inference_mode():
    o = m.forward(torch.tensor([ids]), logits='last')
    g = m.generate(ids, 16)
json.dump({'ids': ids, 'hidden': o['last_hidden_state'][0].tolist(), 'logits': o['logits'][0].tolist(), 'new_ids': g['new_ids'], 'margins': g['top1_minus_top2']}, open(sys.argv[2], 'w'))
print(g['new_ids'], min(g['top1_minus_top2']))
