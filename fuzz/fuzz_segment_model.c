/*
 * fuzz_segment_model.c - libFuzzer target for segment model files
 * (ps_segment_model_load, segment.h).
 *
 * Input layout: byte 0 bit 0 set: the rest is a model text without its
 * final "checksum" line, and the target appends the right one (segment.h:
 * ps_hash64 of all preceding bytes, seed 0) so mutations reach the field
 * checks; bit 0 clear: the rest is a whole file, as is.  Files go to a
 * per-process temporary directory (/dev/shm if present).
 *
 * Invariants (abort when broken): a rejection carries a message; a loaded
 * model has 1 <= k, 1 <= d, a scaler over d features, finite centres and
 * radii (radii >= 0), a name per segment; saving and loading it again
 * gives bit-identical centres, radii, columns and names.  When byte 0
 * bit 1 is set, a two-row features.csv with the model's columns is
 * written and assigned: labels in [0, k), distances >= 0 or NaN.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/hash.h"
#include "persona/segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_segment_model: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static char dir[64];
static char model_path[128], copy_path[128], feat_path[128];

static void cleanup(void)
{
    unlink(model_path);
    unlink(copy_path);
    unlink(feat_path);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/fuzz_segment.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(model_path, sizeof model_path, "%s/model.psm", dir);
    snprintf(copy_path, sizeof copy_path, "%s/copy.psm", dir);
    snprintf(feat_path, sizeof feat_path, "%s/features.csv", dir);
    atexit(cleanup);
}

static int same_bits(const double *a, const double *b, size_t n)
{
    if (n == 0 || a == b)
        return 1;
    return a && b && memcmp(a, b, n * sizeof *a) == 0;
}

static void put_csv_field(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static void check_assign(const struct ps_segment_model *m)
{
    FILE *fp = fopen(feat_path, "wb");
    if (!fp)
        abort();
    fputs("user_id", fp);
    for (int j = 0; j < m->d; j++) {
        fputc(',', fp);
        put_csv_field(fp, m->columns[j]);
    }
    fputs("\nu1", fp);
    for (int j = 0; j < m->d; j++)
        fputs(",0", fp);
    fputs("\nu2", fp);
    for (int j = 0; j < m->d; j++)
        fprintf(fp, ",%s", j % 2 ? "" : "1e30");
    fputc('\n', fp);
    if (fclose(fp) != 0)
        abort();
    struct ps_ftable t;
    struct ps_err err = {0};
    if (ps_ftable_load(&t, feat_path, &err) != PS_OK) {
        CHECK(err.msg[0] != '\0');
        return;
    }
    int32_t labels[2] = {-7, -7};
    float dist[2];
    unsigned char emerging[2];
    if (t.n_rows == 2 &&
        ps_segment_assign(m, &t, NULL, labels, dist, emerging, &err) == PS_OK) {
        for (int i = 0; i < 2; i++) {
            CHECK(labels[i] >= 0 && labels[i] < m->k);
            CHECK(isnan(dist[i]) || dist[i] >= 0);
            CHECK(emerging[i] <= 1);
        }
    } else {
        CHECK(t.n_rows != 2 || err.msg[0] != '\0');
    }
    ps_ftable_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    setup();
    uint8_t b0 = data[0];
    data++;
    size--;
    FILE *fp = fopen(model_path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size))
        abort();
    if (b0 & 1)
        fprintf(fp, "checksum %016llx\n", (unsigned long long)ps_hash64(data, size, 0));
    if (fclose(fp) != 0)
        abort();

    struct ps_segment_model m;
    struct ps_err err = {0};
    if (ps_segment_model_load(&m, model_path, &err) != PS_OK) {
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    CHECK(m.k >= 1 && m.d >= 1);
    CHECK((size_t)m.k * (size_t)m.d <= size);  /* every centre value is in the text */
    CHECK(m.scaler.n_features == m.d);
    for (int j = 0; j < m.d; j++)
        CHECK(m.columns[j] != NULL);
    for (size_t i = 0; i < (size_t)m.k * (size_t)m.d; i++)
        CHECK(isfinite(m.centers[i]));
    for (int c = 0; c < m.k; c++) {
        CHECK(isfinite(m.radius99[c]) && m.radius99[c] >= 0);
        CHECK(m.names[c] != NULL);
    }
    CHECK(ps_segment_model_save(&m, copy_path, &err) == PS_OK);
    struct ps_segment_model m2;
    CHECK(ps_segment_model_load(&m2, copy_path, &err) == PS_OK);
    CHECK(m2.k == m.k && m2.d == m.d);
    CHECK(same_bits(m2.centers, m.centers, (size_t)m.k * m.d));
    CHECK(same_bits(m2.radius99, m.radius99, (size_t)m.k));
    CHECK(same_bits(m2.scaler.center, m.scaler.center, (size_t)m.d));
    CHECK(same_bits(m2.scaler.scale, m.scaler.scale, (size_t)m.d));
    for (int j = 0; j < m.d; j++)
        CHECK(strcmp(m2.columns[j], m.columns[j]) == 0);
    for (int c = 0; c < m.k; c++)
        CHECK(strcmp(m2.names[c], m.names[c]) == 0);
    ps_segment_model_release(&m2);
    if (b0 & 2)
        check_assign(&m);
    ps_segment_model_release(&m);
    return 0;
}
