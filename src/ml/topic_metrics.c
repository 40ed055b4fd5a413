/*
 * topic_metrics.c - held-out perplexity (document completion), top words
 * and topic coherence (UMass, NPMI).  Formulas in include/persona/lda.h;
 * bench/lda/common.py implements the same perplexity for other libraries.
 */
#include "persona/lda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"

double ps_lda_perplexity(const float *phi, const double *alpha, int K, uint32_t V,
                         const struct ps_corpus *heldout, int iters, uint64_t *n_scored)
{
    double A = 0;
    for (int k = 0; k < K; k++)
        A += alpha[k];
    double *theta = ps_xmalloc((size_t)K * sizeof *theta);
    double *acc = ps_xmalloc((size_t)K * sizeof *acc);
    double *r = ps_xmalloc((size_t)K * sizeof *r);
    double loglik = 0;
    uint64_t n_sc = 0;
    for (uint32_t d = 0; d < heldout->n_docs; d++) {
        const uint32_t *w = heldout->words + heldout->doc_off[d];
        uint64_t L = heldout->doc_off[d + 1] - heldout->doc_off[d];
        if (L < 2)
            continue;   /* nothing to score against */
        uint64_t n_obs = (L + 1) / 2;
        for (int k = 0; k < K; k++)
            theta[k] = 1.0 / K;
        for (int it = 0; it < iters; it++) {
            memset(acc, 0, (size_t)K * sizeof *acc);
            for (uint64_t i = 0; i < L; i += 2) {
                double s = 0;
                PS_ASSERT(w[i] < V);
                for (int k = 0; k < K; k++) {
                    r[k] = theta[k] * phi[(size_t)k * V + w[i]];
                    s += r[k];
                }
                if (s > 0)
                    for (int k = 0; k < K; k++)
                        acc[k] += r[k] / s;
            }
            for (int k = 0; k < K; k++)
                theta[k] = (alpha[k] + acc[k]) / ((double)n_obs + A);
        }
        for (uint64_t i = 1; i < L; i += 2) {
            double p = 0;
            PS_ASSERT(w[i] < V);
            for (int k = 0; k < K; k++)
                p += theta[k] * phi[(size_t)k * V + w[i]];
            loglik += log(p);
            n_sc++;
        }
    }
    free(theta);
    free(acc);
    free(r);
    if (n_scored)
        *n_scored = n_sc;
    return n_sc ? exp(-loglik / (double)n_sc) : NAN;
}

void ps_lda_top_words(const float *phi, int K, uint32_t V, int M, uint32_t *top, float *weight)
{
    /* Partial selection per topic: keep the best M in a small sorted list. */
    for (int k = 0; k < K; k++) {
        const float *row = phi + (size_t)k * V;
        uint32_t *t = top + (size_t)k * M;
        int n = 0;
        for (uint32_t w = 0; w < V; w++) {
            float v = row[w];
            if (n == M && !(v > row[t[M - 1]]))
                continue;
            int j = n < M ? n++ : M - 1;
            while (j > 0 && v > row[t[j - 1]]) {
                t[j] = t[j - 1];
                j--;
            }
            t[j] = w;
        }
        for (int j = n; j < M; j++)
            t[j] = t[n ? n - 1 : 0];
        if (weight)
            for (int j = 0; j < M; j++)
                weight[(size_t)k * M + j] = row[t[j]];
    }
}

void ps_topic_coherence(const struct ps_corpus *ref, const uint32_t *top, int K, int M,
                        double *umass, double *npmi)
{
    /* Document frequencies D(w) and co-document frequencies D(w_i, w_j) for
     * the top words only.  A word -> (topic, rank) index lets each document
     * touch just the topics whose top words it contains. */
    uint32_t V = ref->n_words;
    size_t n_ent = (size_t)K * M;
    uint32_t *head = ps_xmalloc(((size_t)V + 1) * sizeof *head);   /* CSR by word */
    uint32_t *ent = ps_xmalloc(n_ent * sizeof *ent);                 /* k * M + rank */
    memset(head, 0, ((size_t)V + 1) * sizeof *head);
    for (size_t e = 0; e < n_ent; e++)
        head[top[e] + 1]++;
    for (uint32_t w = 0; w < V; w++)
        head[w + 1] += head[w];
    uint32_t *fill = ps_xmalloc((size_t)V * sizeof *fill);
    memcpy(fill, head, (size_t)V * sizeof *fill);
    for (size_t e = 0; e < n_ent; e++)
        ent[fill[top[e]]++] = (uint32_t)e;
    free(fill);

    uint64_t *co = ps_xcalloc(n_ent * (size_t)M, sizeof *co);   /* K x M x M */
    uint8_t *present = ps_xcalloc(n_ent, 1);
    uint32_t *seen = ps_xcalloc((size_t)V, sizeof *seen);        /* last doc + 1 */
    int32_t *touched = ps_xmalloc((size_t)K * sizeof *touched);
    uint8_t *is_touched = ps_xcalloc((size_t)K, 1);
    for (uint32_t d = 0; d < ref->n_docs; d++) {
        int n_touched = 0;
        for (uint64_t i = ref->doc_off[d]; i < ref->doc_off[d + 1]; i++) {
            uint32_t w = ref->words[i];
            if (seen[w] == d + 1)
                continue;
            seen[w] = d + 1;
            for (uint32_t e = head[w]; e < head[w + 1]; e++) {
                uint32_t id = ent[e];
                present[id] = 1;
                int k = (int)(id / (uint32_t)M);
                if (!is_touched[k]) {
                    is_touched[k] = 1;
                    touched[n_touched++] = k;
                }
            }
        }
        for (int t = 0; t < n_touched; t++) {
            int k = touched[t];
            uint8_t *pr = present + (size_t)k * M;
            uint64_t *c = co + (size_t)k * M * M;
            for (int i = 0; i < M; i++)
                if (pr[i])
                    for (int j = 0; j < M; j++)
                        c[i * M + j] += pr[j];
            memset(pr, 0, (size_t)M);
            is_touched[k] = 0;
        }
    }
    double N = (double)ref->n_docs;
    int n_pairs = M * (M - 1) / 2;
    for (int k = 0; k < K; k++) {
        const uint64_t *c = co + (size_t)k * M * M;
        double um = 0, np = 0;
        for (int i = 1; i < M; i++)
            for (int j = 0; j < i; j++) {
                double dj = (double)c[j * M + j], di = (double)c[i * M + i];
                double dij = (double)c[i * M + j];
                if (dj > 0)
                    um += log((dij + 1) / dj);
                if (dij == 0) {
                    np += -1;
                } else {
                    double pij = dij / N, pi = di / N, pj = dj / N;
                    np += pij >= 1 ? 1 : log(pij / (pi * pj)) / -log(pij);
                }
            }
        if (umass)
            umass[k] = n_pairs ? um / n_pairs : 0;
        if (npmi)
            npmi[k] = n_pairs ? np / n_pairs : 0;
    }
    free(head);
    free(ent);
    free(co);
    free(present);
    free(seen);
    free(touched);
    free(is_touched);
}
