"""Shared by the LDA benchmarks: LDA-C reading and the held-out perplexity
estimator of include/persona/lda.h (document completion with a fixed-point
theta), so every library's topic-word matrix is scored the same way."""
import numpy as np


def read_ldac(path):
    """Returns a list of documents, each a list of (word id, count)."""
    docs = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            docs.append([(int(a), int(b)) for a, b in (p.split(":") for p in parts[1:])])
    return docs


def expand(doc):
    """Tokens in stored order (the order the C reader expands them)."""
    out = []
    for w, c in doc:
        out.extend([w] * c)
    return out


def perplexity(phi, alpha, test_docs, iters=50):
    """Document completion: even positions observed, odd positions scored.
    theta_k = (alpha_k + sum_i r_ik) / (n_obs + sum alpha), r_ik ∝ theta_k phi_k,w_i,
    from a uniform start, `iters` steps.  phi: K x V (rows sum to 1)."""
    phi = np.asarray(phi, dtype=np.float64)
    K = phi.shape[0]
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (K,))
    A = alpha.sum()
    loglik, n = 0.0, 0
    for doc in test_docs:
        toks = expand(doc)
        if len(toks) < 2:
            continue
        obs, sc = toks[0::2], toks[1::2]
        P = phi[:, obs]                    # K x n_obs
        theta = np.full(K, 1.0 / K)
        for _ in range(iters):
            r = theta[:, None] * P
            s = r.sum(0)
            r = r[:, s > 0] / s[s > 0]
            theta = (alpha + r.sum(1)) / (len(obs) + A)
        loglik += np.log(theta @ phi[:, sc]).sum()
        n += len(sc)
    return float(np.exp(-loglik / n))
