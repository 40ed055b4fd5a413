/*
 * bert.c - BERT's forward pass over a packed batch (see bert.h, lm.h).
 *
 * Legend: M packed tokens, C channels, F intermediate width, B rows.
 *   x = LN(word[id] + pos[p] + type[tt])
 *   per layer, post-LayerNorm:
 *     q | k | v = x . W^T + b          (M, 3C), three products side by side
 *     att = softmax(q k^T / sqrt(hd)) v over the row's own tokens
 *     x = LN(x + att . W_o^T + b_o)
 *     x = LN(x + gelu(x . W_i^T + b_i) . W_out^T + b_out)
 *   pooler = tanh(W_p x[CLS] + b_p)
 * The padding mask is the packing itself: a row's queries only ever see
 * keys of the same row.
 */
#include "lm_internal.h"
#include "ops.h"

#include <math.h>
#include <string.h>

void ps__bert_forward(struct ps_lm_ctx *ctx)
{
    const struct ps_lm_config *c = &ctx->m->cfg;
    const struct ps_bert_weights *w = &ctx->m->bert;
    const int M = ctx->n_packed, C = c->d_model, F = c->d_ff;
    const size_t sC = (size_t)C;

    for (int m = 0; m < M; m++) {
        const float *we = w->word + (size_t)ctx->ids[m] * sC;
        const float *pe = w->pos + (size_t)ctx->pos[m] * sC;
        const float *te = w->type + (size_t)ctx->types[m] * sC;
        float *x = ctx->h + (size_t)m * sC;
        for (int i = 0; i < C; i++)
            x[i] = we[i] + pe[i] + te[i];
    }
    ps__par_layernorm(ctx, ctx->x, ctx->h, w->ln_w, w->ln_b, M, C, c->ln_eps);
    for (int l = 0; l < c->n_layer; l++) {
        const struct ps_bert_layer *L = &w->layers[l];
        ps_sgemm(1, M, C, C, 1.0f, ctx->x, C, L->q_w, C, 0.0f, ctx->qkv, 3 * C);
        ps_sgemm(1, M, C, C, 1.0f, ctx->x, C, L->k_w, C, 0.0f, ctx->qkv + C, 3 * C);
        ps_sgemm(1, M, C, C, 1.0f, ctx->x, C, L->v_w, C, 0.0f, ctx->qkv + 2 * C, 3 * C);
        ps__par_bias_act(ctx, ctx->qkv, 3 * C, L->q_b, M, C, -1);
        ps__par_bias_act(ctx, ctx->qkv + C, 3 * C, L->k_b, M, C, -1);
        ps__par_bias_act(ctx, ctx->qkv + 2 * C, 3 * C, L->v_b, M, C, -1);
        ps__par_attention(ctx, l, 0);
        memcpy(ctx->h, ctx->x, (size_t)M * sC * sizeof(float));
        ps_sgemm(1, M, C, C, 1.0f, ctx->att, C, L->o_w, C, 1.0f, ctx->h, C);
        ps__par_bias_act(ctx, ctx->h, C, L->o_b, M, C, -1);
        ps__par_layernorm(ctx, ctx->x, ctx->h, L->ln1_w, L->ln1_b, M, C, c->ln_eps);
        ps_sgemm(1, M, F, C, 1.0f, ctx->x, C, L->i_w, C, 0.0f, ctx->ff, F);
        ps__par_bias_act(ctx, ctx->ff, F, L->i_b, M, F, (int)c->act);
        memcpy(ctx->h, ctx->x, (size_t)M * sC * sizeof(float));
        ps_sgemm(1, M, C, F, 1.0f, ctx->ff, F, L->out_w, F, 1.0f, ctx->h, C);
        ps__par_bias_act(ctx, ctx->h, C, L->out_b, M, C, -1);
        ps__par_layernorm(ctx, ctx->x, ctx->h, L->ln2_w, L->ln2_b, M, C, c->ln_eps);
    }
    ctx->hidden = ctx->x;
    if (ctx->m->has_pooler) {
        for (int r = 0; r < ctx->n_rows; r++)
            memcpy(ctx->last + (size_t)r * sC, ctx->x + (size_t)ctx->off[r] * sC,
                   sC * sizeof(float));
        ps_sgemm(1, ctx->n_rows, C, C, 1.0f, ctx->last, C, w->pool_w, C, 0.0f, ctx->pooler, C);
        for (int r = 0; r < ctx->n_rows; r++) {
            float *y = ctx->pooler + (size_t)r * sC;
            for (int i = 0; i < C; i++)
                y[i] = tanhf(y[i] + w->pool_b[i]);
        }
        ctx->have_pooler = 1;
    }
}
