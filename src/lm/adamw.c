/*
 * adamw.c - AdamW with decoupled weight decay, exactly as
 * torch.optim.AdamW (amsgrad off, maximize off):
 *   p -= lr * wd * p            (tensors with decay only)
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
#include <math.h>
#include <stdlib.h>

#include "persona/core.h"
#include "persona/train.h"
#include "train_internal.h"

struct ps_adamw_params ps_adamw_default_params(void)
{
    struct ps_adamw_params p = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                .weight_decay = 0.1f};
    return p;
}

void ps_adamw_prepare(struct ps_train_model *m, long t)
{
    if (!m->adam_m) {
        m->adam_m = ps_xcalloc(m->n_params, sizeof(float));
        m->adam_v = ps_xcalloc(m->n_params, sizeof(float));
    }
    m->adam_t = t;
}

void ps_adamw_step(struct ps_train_model *m, const struct ps_adamw_params *p, float lr)
{
    if (!m->adam_m)
        ps_adamw_prepare(m, 0);
    long t = ++m->adam_t;
    double bc1 = 1.0 - pow((double)p->beta1, (double)t);
    double bc2 = 1.0 - pow((double)p->beta2, (double)t);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float b1 = p->beta1, b2 = p->beta2;
    for (size_t k = 0; k < m->n_tensors; k++) {
        const struct ps_train_tensor *tt = &m->tensors[k];
        size_t off = (size_t)(tt->param - m->params);
        float *w = tt->param, *g = tt->grad, *mm = m->adam_m + off, *vv = m->adam_v + off;
        float decay = tt->decay ? 1.0f - lr * p->weight_decay : 1.0f;
        for (size_t i = 0; i < tt->n_elems; i++) {
            float gi = g[i];
            w[i] *= decay;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            float denom = sqrtf(vv[i]) / bc2_sqrt + p->eps;
            w[i] -= step_size * mm[i] / denom;
        }
    }
}

long ps_adamw_t(const struct ps_train_model *m) { return m->adam_t; }
float *ps_adamw_m(struct ps_train_model *m) { return m->adam_m; }
float *ps_adamw_v(struct ps_train_model *m) { return m->adam_v; }
