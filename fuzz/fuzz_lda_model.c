/*
 * fuzz_lda_model.c - libFuzzer target for the LDA file readers (lda.h):
 * ps_lda_load (binary model files) and ps_corpus_read_ldac (LDA-C text).
 *
 * Input layout: byte 0 chooses the mode:
 *   0 mod 4   the rest is a model file without its final 8-byte checksum;
 *             the target appends ps_hash64(rest, seed) with the seed of
 *             the file format (lda.h: "a 64-bit checksum of everything
 *             before it"), so mutations reach the field checks;
 *   1 mod 4   the rest is a whole model file, as is;
 *   2, 3      the rest is an LDA-C corpus read with n_words = byte 1 + 1.
 * Files go to a per-process temporary directory (/dev/shm if present).
 *
 * Invariants (abort when broken): a rejection carries a message; a loaded
 * model has K >= 1, V >= 1 (bounded by the file size), finite positive
 * alpha and beta, word ids that map back to themselves, topic-word rows
 * that sum to 1, a fold-in theta that sums to 1; saving and loading it
 * again gives the same counts.  A read corpus has ids < n_words and
 * offsets that are non-decreasing and end at n_tokens.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/hash.h"
#include "persona/lda.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_lda_model: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

/* Seed of the model file checksum (the file format's constant, "PSLDA"). */
#define LDA_CHECK_SEED 0x50534C4441ULL

static char dir[64];
static char model_path[128], copy_path[128], ldac_path[128];

static void cleanup(void)
{
    unlink(model_path);
    unlink(copy_path);
    unlink(ldac_path);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/fuzz_lda.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(model_path, sizeof model_path, "%s/model.lda", dir);
    snprintf(copy_path, sizeof copy_path, "%s/copy.lda", dir);
    snprintf(ldac_path, sizeof ldac_path, "%s/corpus.ldac", dir);
    atexit(cleanup);
}

static void write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (na && fwrite(a, 1, na, fp) != na) || (nb && fwrite(b, 1, nb, fp) != nb) ||
        fclose(fp) != 0)
        abort();
}

static void check_model(struct ps_lda *m, size_t file_size)
{
    int K = ps_lda_k(m);
    uint32_t V = ps_lda_n_words(m);
    CHECK(K >= 1 && V >= 1);
    CHECK((uint64_t)K * V * 4 <= file_size);   /* counts are stored in the file */
    const double *alpha = ps_lda_alpha(m);
    for (int k = 0; k < K; k++)
        CHECK(isfinite(alpha[k]) && alpha[k] > 0);
    CHECK(isfinite(ps_lda_beta(m)) && ps_lda_beta(m) > 0);
    (void)ps_lda_params(m);
    (void)ps_lda_sweeps(m);
    (void)ps_lda_n_tokens(m);
    for (uint32_t w = 0; w < V; w++) {
        const char *s = ps_lda_word(m, w);
        if (s)
            CHECK(ps_lda_word_id(m, s, strlen(s)) == (int64_t)w);
        for (int k = 0; k < K; k++)
            CHECK(ps_lda_count(m, w, k) >= 0);
    }
    CHECK(ps_lda_word(m, V) == NULL);
    float *phi = malloc((size_t)K * V * sizeof *phi);
    ps_lda_topic_word(m, phi);
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (uint32_t w = 0; w < V; w++) {
            CHECK(phi[(size_t)k * V + w] >= 0);
            s += phi[(size_t)k * V + w];
        }
        CHECK(fabs(s - 1) < 1e-3);
    }
    free(phi);
    uint32_t words[4] = {0, V - 1, V / 2, 0};
    float *theta = malloc((size_t)K * sizeof *theta);
    ps_lda_infer(m, words, 4, 4, 7, theta);
    double s = 0;
    for (int k = 0; k < K; k++) {
        CHECK(theta[k] >= 0);
        s += theta[k];
    }
    CHECK(fabs(s - 1) < 1e-3);
    free(theta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    setup();
    int mode = data[0] % 4;
    struct ps_err err = {0};
    if (mode >= 2) {
        uint32_t n_words = (uint32_t)data[1] + 1;
        /* The reader takes counts up to 1e6 per pair, so 4 KB of pairs can
         * ask for 1.6 GB (docs/fuzzing.md); keep the fuzzer under its RSS
         * limit by skipping inputs whose ':count' numbers sum past 2^22. */
        uint64_t total = 0;
        for (size_t i = 2; i + 1 < size; i++)
            if (data[i] == ':') {
                uint64_t v = 0;
                size_t j = i + 1;
                while (j < size && (data[j] == ' ' || (data[j] >= '\t' && data[j] <= '\r')))
                    j++;                      /* strtoul skips white space */
                if (j < size && data[j] == '+')
                    j++;
                for (; j < size && data[j] >= '0' && data[j] <= '9' && v < (1u << 23); j++)
                    v = v * 10 + (data[j] - '0');
                total += v;
            }
        if (total > (1u << 22))
            return 0;
        write_file(ldac_path, data + 2, size - 2, NULL, 0);
        struct ps_corpus c;
        int rc = ps_corpus_read_ldac(&c, ldac_path, n_words, &err);
        if (rc != PS_OK) {
            CHECK(err.msg[0] != '\0');
            return 0;
        }
        CHECK(c.n_words == n_words);
        CHECK(c.doc_off[0] == 0 && c.doc_off[c.n_docs] == c.n_tokens);
        for (uint32_t d = 0; d < c.n_docs; d++)
            CHECK(c.doc_off[d] <= c.doc_off[d + 1]);
        for (uint64_t i = 0; i < c.n_tokens; i++)
            CHECK(c.words[i] < n_words);
        ps_corpus_release(&c);
        return 0;
    }
    data++;
    size--;
    size_t file_size = size;
    if (mode == 0) {
        uint64_t h = ps_hash64(data, size, LDA_CHECK_SEED);
        write_file(model_path, data, size, &h, 8);
        file_size += 8;
    } else {
        write_file(model_path, data, size, NULL, 0);
    }
    struct ps_lda *m = NULL;
    int rc = ps_lda_load(&m, model_path, &err);
    if (rc != PS_OK) {
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    check_model(m, file_size);
    /* save + load gives the same model */
    CHECK(ps_lda_save(m, copy_path, &err) == PS_OK);
    struct ps_lda *m2 = NULL;
    CHECK(ps_lda_load(&m2, copy_path, &err) == PS_OK);
    CHECK(ps_lda_k(m2) == ps_lda_k(m) && ps_lda_n_words(m2) == ps_lda_n_words(m));
    for (uint32_t w = 0; w < ps_lda_n_words(m); w++)
        for (int k = 0; k < ps_lda_k(m); k++)
            CHECK(ps_lda_count(m2, w, k) == ps_lda_count(m, w, k));
    CHECK(ps_lda_beta(m2) == ps_lda_beta(m));
    ps_lda_free(m2);
    ps_lda_free(m);
    return 0;
}
