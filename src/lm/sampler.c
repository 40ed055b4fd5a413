/*
 * sampler.c - next-token choice: greedy, temperature, top-k, top-p,
 * repetition penalty, with ../shared/lmref's reproducible draw (see
 * sampler.h).
 *
 * Top-k uses a bounded heap (O(V log k)) instead of sorting the whole
 * vocabulary each step; the candidates are then sorted by (logit
 * descending, id ascending), which is the reference's order.
 */
#include "persona/sampler.h"
#include "persona/core.h"
#include "persona/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ps_sampler_params ps_sampler_default_params(void)
{
    struct ps_sampler_params p = {.temperature = 0.0, .top_k = 0, .top_p = 1.0,
                                  .repetition_penalty = 1.0, .seed = 42};
    return p;
}

int ps_sampler_check(const struct ps_sampler_params *p, struct ps_err *err)
{
    if (!(p->temperature >= 0) || !isfinite(p->temperature))
        return ps_err_set(err, PS_ERR_USAGE, "temperature %g must be >= 0", p->temperature);
    if (p->top_k < 0)
        return ps_err_set(err, PS_ERR_USAGE, "top-k %d must be >= 0", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return ps_err_set(err, PS_ERR_USAGE, "top-p %g must be in (0, 1]", p->top_p);
    if (!(p->repetition_penalty > 0) || !isfinite(p->repetition_penalty))
        return ps_err_set(err, PS_ERR_USAGE, "repetition penalty %g must be > 0",
                          p->repetition_penalty);
    return PS_OK;
}

void ps_sampler_init(struct ps_sampler *s, const struct ps_sampler_params *p, int n_vocab)
{
    s->p = *p;
    s->n_vocab = n_vocab;
    s->order = ps_xmalloc((size_t)n_vocab * sizeof *s->order);
    s->prob = ps_xmalloc((size_t)n_vocab * sizeof *s->prob);
    s->work = ps_xmalloc((size_t)n_vocab * sizeof *s->work);
    s->seen = ps_xcalloc((size_t)n_vocab, 1);
}

void ps_sampler_release(struct ps_sampler *s)
{
    free(s->order);
    free(s->prob);
    free(s->work);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

double ps_sampler_uniform(uint64_t seed, uint64_t step)
{
    uint64_t z = ps_mix64(seed + (step + 1) * 0x9E3779B97F4A7C15ULL);
    return (double)(z >> 11) / 9007199254740992.0; /* 2^53 */
}

/* a before b in candidate order: larger logit first, then smaller id. */
static inline int before(const float *lg, int32_t a, int32_t b)
{
    return lg[a] > lg[b] || (lg[a] == lg[b] && a < b);
}

static int cmp_cand(const void *pa, const void *pb, void *arg)
{
    const float *lg = arg;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return before(lg, a, b) ? -1 : before(lg, b, a) ? 1 : 0;
}

/* Insertion sort for the (small) top-k set keeps this reentrant. */
static void sort_small(int32_t *v, int n, const float *lg)
{
    for (int i = 1; i < n; i++) {
        int32_t x = v[i];
        int j = i - 1;
        while (j >= 0 && before(lg, x, v[j])) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

/* Min-heap on candidate order: the root is the worst kept candidate. */
static void heap_down(int32_t *h, int n, int i, const float *lg)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(lg, h[w], h[l]))
            w = l;
        if (r < n && before(lg, h[w], h[r]))
            w = r;
        if (w == i)
            return;
        int32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

int32_t ps_sampler_pick(struct ps_sampler *s, const float *logits, const int32_t *history,
                        size_t n_hist, uint64_t step)
{
    const int V = s->n_vocab;
    float *lg = s->work;
    memcpy(lg, logits, (size_t)V * sizeof *lg);
    if (s->p.repetition_penalty != 1.0) {
        float rp = (float)s->p.repetition_penalty;
        for (size_t i = 0; i < n_hist; i++) {
            int32_t id = history[i];
            if (id < 0 || id >= V || s->seen[id])
                continue;
            s->seen[id] = 1;
            lg[id] = lg[id] < 0 ? lg[id] * rp : lg[id] / rp;
        }
        for (size_t i = 0; i < n_hist; i++)
            if (history[i] >= 0 && history[i] < V)
                s->seen[history[i]] = 0;
    }
    if (s->p.temperature == 0.0) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (lg[i] > lg[best])
                best = i;
        return best;
    }
    int n;
    int32_t *ord = s->order;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        n = s->p.top_k;
        for (int i = 0; i < n; i++)
            ord[i] = i;
        for (int i = n / 2 - 1; i >= 0; i--)
            heap_down(ord, n, i, lg);
        for (int32_t id = n; id < V; id++)
            if (before(lg, id, ord[0])) {
                ord[0] = id;
                heap_down(ord, n, 0, lg);
            }
        sort_small(ord, n, lg);
    } else {
        n = V;
        for (int i = 0; i < n; i++)
            ord[i] = i;
        qsort_r(ord, (size_t)n, sizeof *ord, cmp_cand, lg);
    }
    /* Probabilities in double from logit / T, relative to the best. */
    double T = s->p.temperature, top = (double)lg[ord[0]] / T, sum = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = exp((double)lg[ord[i]] / T - top);
        sum += s->prob[i];
    }
    for (int i = 0; i < n; i++)
        s->prob[i] /= sum;
    if (s->p.top_p < 1.0) {
        double c = 0;
        int keep = 0;
        for (int i = 0; i < n; i++) {
            c += s->prob[i];
            if (c < s->p.top_p)
                keep++;
        }
        keep += 1;
        n = keep < n ? keep : n;
    }
    double u = ps_sampler_uniform(s->p.seed, step), c = 0;
    for (int i = 0; i < n; i++)
        c += s->prob[i];
    double target = u * c;
    int idx = 0;
    c = 0;
    for (int i = 0; i < n; i++) {
        c += s->prob[i];
        if (c <= target)
            idx++;
    }
    if (idx > n - 1)
        idx = n - 1;
    return ord[idx];
}
