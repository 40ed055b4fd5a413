/*
 * bert.h - BERT's weights as the engine sees them (views into the loaded
 * checkpoint; see lm.h for loading and running).
 *
 * nn.Linear weights are [out, in] (y = x W^T + b).  The network is
 * post-LayerNorm:
 *   x = LN(word[id] + pos[p] + type[tt])
 *   per layer: x = LN(x + O(attn(x)));  x = LN(x + W2(gelu(W1 x)))
 *   pooler = tanh(Wp x[CLS] + bp)
 * with bidirectional attention over each text's own tokens (the attention
 * mask) scaled by 1/sqrt(hd).
 */
#ifndef PERSONA_BERT_H
#define PERSONA_BERT_H

struct ps_lm;

/* Legend: C = hidden_size, F = intermediate_size, V = vocab, P = positions,
 * TV = type_vocab_size. */
struct ps_bert_layer {
    const float *q_w, *q_b;          /* (C, C), (C) */
    const float *k_w, *k_b;
    const float *v_w, *v_b;
    const float *o_w, *o_b;          /* attention.output.dense */
    const float *ln1_w, *ln1_b;      /* attention.output.LayerNorm */
    const float *i_w, *i_b;          /* intermediate.dense (F, C), (F) */
    const float *out_w, *out_b;      /* output.dense (C, F), (C) */
    const float *ln2_w, *ln2_b;      /* output.LayerNorm */
};

struct ps_bert_weights {
    const float *word;               /* (V, C) */
    const float *pos;                /* (P, C) */
    const float *type;               /* (TV, C) */
    const float *ln_w, *ln_b;        /* embeddings.LayerNorm */
    const float *pool_w, *pool_b;    /* pooler.dense (C, C), (C); NULL if absent */
    struct ps_bert_layer *layers;    /* (n_layer), owned by the model */
};

/* The weights of a loaded BERT model, or NULL for another family.
 * Borrowed, valid until ps_lm_free. */
const struct ps_bert_weights *ps_lm_bert_weights(const struct ps_lm *m);

#endif
