/*
 * fuzz_tokenizer.c - libFuzzer target for the tokenizer loaders and for
 * encode/decode (tokenizer.h).
 *
 * Input layout: byte 0 chooses the mode, byte 1 a max_tokens limit; the
 * rest is split at the first "####\n" into part A and part B:
 *   0  A = vocab.json, B = merges.txt  (ps_tokenizer_load_bpe_files)
 *   1  A = tokenizer.json              (ps_tokenizer_load_file)
 *   2  A = vocab.txt, B = tokenizer_config.json, in a folder
 *      (ps_tokenizer_load: the WordPiece path)
 *   3  A = vocab.json, B = merges.txt, in a folder (ps_tokenizer_load)
 *   4+ A and B are texts for the real tokenizers of
 *      ../shared/lmref/models/{gpt2,bert}-tiny-f32 (relative to the working
 *      directory, loaded once; the mode does nothing when they are absent)
 * Files go to a per-process temporary directory (/dev/shm if present).
 *
 * Invariants (abort when broken): a rejection carries a message; a loaded
 * tokenizer has a positive vocabulary whose ids map back through
 * ps_tokenizer_find; encode fails exactly on invalid UTF-8; every id is in
 * range, max_tokens is honoured, WordPiece output is [CLS] ... [SEP]; for
 * BPE decode(encode(x)) == x byte for byte, and a truncated encoding is a
 * prefix of the full one.  Fuzzed tokenizers encode a fixed text and
 * part B.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persona/tokenizer.h"
#include "data/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_tokenizer: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static char dir[64], bpe_dir[96], wp_dir[96];
static char vocab_json[128], merges_txt[128], tok_json[128], vocab_txt[128], tok_cfg[128];
static struct ps_tokenizer *gpt2, *bert;

static void cleanup(void)
{
    ps_tokenizer_free(gpt2);
    ps_tokenizer_free(bert);
    unlink(vocab_json);
    unlink(merges_txt);
    unlink(tok_json);
    unlink(vocab_txt);
    unlink(tok_cfg);
    rmdir(bpe_dir);
    rmdir(wp_dir);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/fuzz_tok.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(bpe_dir, sizeof bpe_dir, "%s/bpe", dir);
    snprintf(wp_dir, sizeof wp_dir, "%s/wp", dir);
    if (mkdir(bpe_dir, 0700) != 0 || mkdir(wp_dir, 0700) != 0)
        abort();
    snprintf(vocab_json, sizeof vocab_json, "%s/vocab.json", bpe_dir);
    snprintf(merges_txt, sizeof merges_txt, "%s/merges.txt", bpe_dir);
    snprintf(tok_json, sizeof tok_json, "%s/tokenizer.json", dir);
    snprintf(vocab_txt, sizeof vocab_txt, "%s/vocab.txt", wp_dir);
    snprintf(tok_cfg, sizeof tok_cfg, "%s/tokenizer_config.json", wp_dir);
    struct ps_err err = {0};
    if (access("../shared/lmref/models/gpt2-tiny-f32/vocab.json", R_OK) == 0 &&
        ps_tokenizer_load(&gpt2, "../shared/lmref/models/gpt2-tiny-f32", &err) != PS_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    if (access("../shared/lmref/models/bert-tiny-f32/vocab.txt", R_OK) == 0 &&
        ps_tokenizer_load(&bert, "../shared/lmref/models/bert-tiny-f32", &err) != PS_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    atexit(cleanup);
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(d, 1, n, fp) != n) || fclose(fp) != 0)
        abort();
}

/* Encodes text, checks ids, and for BPE the round trip and truncation. */
static void check_text(const struct ps_tokenizer *t, const char *text, size_t len, size_t max_tokens)
{
    int32_t *ids = NULL;
    size_t n = 0;
    struct ps_err err = {0};
    int valid = ps__utf8_invalid_offset_ref(text, len) < 0;
    int rc = ps_tokenizer_encode(t, text, len, 0, &ids, &n, &err);
    if (!valid) {
        CHECK(rc == PS_ERR_BAD_INPUT && err.msg[0] != '\0');
        free(ids);
        return;
    }
    if (rc != PS_OK) {
        /* a fuzzed vocabulary may lack byte tokens: an error, never a crash */
        CHECK(err.msg[0] != '\0');
        free(ids);
        return;
    }
    int32_t V = ps_tokenizer_vocab_size(t);
    for (size_t i = 0; i < n; i++) {
        CHECK(ids[i] >= 0 && ids[i] < V);
        CHECK(ps_tokenizer_token(t, ids[i]) != NULL);
    }
    enum ps_tokenizer_kind kind = ps_tokenizer_kind(t);
    /* WordPiece wraps in [CLS] ... [SEP] when the vocabulary has both */
    int wrap = kind == PS_TOKENIZER_WORDPIECE && ps_tokenizer_cls_id(t) >= 0 &&
               ps_tokenizer_sep_id(t) >= 0;
    if (wrap) {
        CHECK(n >= 2 && ids[0] == ps_tokenizer_cls_id(t) && ids[n - 1] == ps_tokenizer_sep_id(t));
    } else if (kind == PS_TOKENIZER_BPE) {
        char *back = NULL;
        size_t blen = 0;
        CHECK(ps_tokenizer_decode_n(t, ids, n, &back, &blen, &err) == PS_OK);
        CHECK(blen == len && memcmp(back, text, len) == 0);
        CHECK(back[blen] == '\0');
        free(back);
    }
    if (max_tokens == 1 && wrap) {
        /* no room for [CLS] and [SEP]: a usage error */
        int32_t *tr = NULL;
        size_t tn = 0;
        CHECK(ps_tokenizer_encode(t, text, len, 1, &tr, &tn, &err) == PS_ERR_USAGE);
        CHECK(err.msg[0] != '\0');
        free(tr);
    } else if (max_tokens > 0) {
        int32_t *tr = NULL;
        size_t tn = 0;
        CHECK(ps_tokenizer_encode(t, text, len, max_tokens, &tr, &tn, &err) == PS_OK);
        CHECK(tn <= max_tokens && tn <= n);
        if (kind == PS_TOKENIZER_BPE) {
            CHECK(tn == (n < max_tokens ? n : max_tokens));
            CHECK(tn == 0 || memcmp(tr, ids, tn * sizeof *tr) == 0);
        } else if (wrap) {
            CHECK(tn >= 2 && tr[tn - 1] == ps_tokenizer_sep_id(t));
        }
        free(tr);
    }
    free(ids);
}

static void check_loaded(struct ps_tokenizer *t, const char *b, size_t nb, size_t max_tokens,
                         int nul_in_vocab)
{
    int32_t V = ps_tokenizer_vocab_size(t);
    CHECK(V > 0);
    for (int32_t id = 0; id < V && id < 512; id++) {
        const char *tok = ps_tokenizer_token(t, id);
        size_t bl;
        if (!tok) {
            /* a hole in a sparse vocabulary: unknown everywhere */
            CHECK(ps_tokenizer_token_bytes(t, id, &bl) == NULL && bl == 0);
            char *out = NULL;
            struct ps_err e = {0};
            CHECK(ps_tokenizer_decode(t, &id, 1, &out, &e) != PS_OK && e.msg[0] != '\0');
            free(out);
            continue;
        }
        int32_t f = ps_tokenizer_find(t, tok, strlen(tok));
        /* a token holding a NUL (escaped in JSON, raw in vocab.txt) is
         * truncated by the C-string accessor: see docs/fuzzing.md */
        CHECK((f >= 0 && f < V) || nul_in_vocab);
        CHECK(ps_tokenizer_token_bytes(t, id, &bl) != NULL);
    }
    CHECK(ps_tokenizer_token(t, V) == NULL && ps_tokenizer_token(t, -1) == NULL);
    int32_t specials[6] = {ps_tokenizer_eos_id(t), ps_tokenizer_cls_id(t), ps_tokenizer_sep_id(t),
                           ps_tokenizer_pad_id(t), ps_tokenizer_unk_id(t), ps_tokenizer_mask_id(t)};
    for (int i = 0; i < 6; i++)
        CHECK(specials[i] >= -1 && specials[i] < V);
    static const char fixed[] = "Hello world, caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd 42!<|endoftext|>";
    check_text(t, fixed, sizeof fixed - 1, max_tokens);
    check_text(t, b, nb, max_tokens);
    /* unknown ids are an error */
    int32_t bad = V;
    char *out = NULL;
    struct ps_err err = {0};
    CHECK(ps_tokenizer_decode(t, &bad, 1, &out, &err) != PS_OK);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    setup();
    int mode = data[0] % 8;
    size_t max_tokens = data[1] % 16;
    const char *a = (const char *)data + 2, *b = "";
    size_t na = size - 2, nb = 0;
    const char *sep = memmem(a, na, "####\n", 5);
    if (sep) {
        b = sep + 5;
        nb = na - (size_t)(b - a);
        na = (size_t)(sep - a);
    }
    struct ps_tokenizer *t = NULL;
    struct ps_err err = {0};
    int rc;
    switch (mode) {
    case 0:
        write_file(vocab_json, a, na);
        write_file(merges_txt, b, nb);
        rc = ps_tokenizer_load_bpe_files(&t, vocab_json, merges_txt, &err);
        break;
    case 1:
        write_file(tok_json, a, na);
        rc = ps_tokenizer_load_file(&t, tok_json, &err);
        break;
    case 2:
        write_file(vocab_txt, a, na);
        write_file(tok_cfg, b, nb);
        rc = ps_tokenizer_load(&t, wp_dir, &err);
        break;
    case 3:
        write_file(vocab_json, a, na);
        write_file(merges_txt, b, nb);
        rc = ps_tokenizer_load(&t, bpe_dir, &err);
        break;
    default:
        if (gpt2) {
            check_text(gpt2, a, na, max_tokens);
            check_text(gpt2, (const char *)data, size, 0);
        }
        if (bert)
            check_text(bert, a, na, max_tokens);
        return 0;
    }
    if (rc != PS_OK) {
        CHECK(t == NULL);
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    CHECK(t != NULL);
    check_loaded(t, b, nb, max_tokens, memchr(a, '\0', na) != NULL || memmem(a, na, "\\u0000", 6) != NULL);
    ps_tokenizer_free(t);
    return 0;
}
