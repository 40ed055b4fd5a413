/*
 * gpt2.h - GPT-2's weights as the engine sees them (views into the loaded
 * checkpoint; see lm.h for loading and running).
 *
 * Hugging Face stores GPT-2's projections as Conv1D weights [in, out]
 * (y = x W + b); c_attn's columns are [q | k | v] and head h owns columns
 * h*hd .. (h+1)*hd of each.  The network is pre-LayerNorm:
 *   x = wte[id] + wpe[pos]
 *   per layer: x += proj(attn(ln_1(x)));  x += fc2(act(fc1(ln_2(x))))
 *   hidden = ln_f(x);  logits = hidden . lm_head^T (lm_head tied to wte)
 * with causal attention scaled by 1/sqrt(hd).
 */
#ifndef PERSONA_GPT2_H
#define PERSONA_GPT2_H

struct ps_lm;

/* Shapes use the legend C = n_embd, F = n_inner, V = vocab, P = positions. */
struct ps_gpt2_layer {
    const float *ln1_w, *ln1_b;      /* (C) */
    const float *attn_w, *attn_b;    /* (C, 3C), (3C) */
    const float *proj_w, *proj_b;    /* (C, C), (C) */
    const float *ln2_w, *ln2_b;      /* (C) */
    const float *fc_w, *fc_b;        /* (C, F), (F) */
    const float *fc2_w, *fc2_b;      /* (F, C), (C) */
};

struct ps_gpt2_weights {
    const float *wte;                /* (V, C) token embeddings */
    const float *wpe;                /* (P, C) position embeddings */
    const float *lnf_w, *lnf_b;      /* (C) */
    const float *lm_head;            /* (V, C); == wte when tied */
    struct ps_gpt2_layer *layers;    /* (n_layer), owned by the model */
};

/* The weights of a loaded GPT-2 model, or NULL for another family.
 * Borrowed, valid until ps_lm_free. */
const struct ps_gpt2_weights *ps_lm_gpt2_weights(const struct ps_lm *m);

#endif
