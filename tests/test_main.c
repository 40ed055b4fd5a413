/* test_main.c - the unit-test runner (see test.h). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persona/core.h"

struct test_case {
    const char *name;
    test_fn fn;
};

static struct test_case *tests;
static size_t n_tests, cap_tests;
int test_failures;
static char tmpdir[256];

void test_register(const char *name, test_fn fn)
{
    tests = ps_xgrow(tests, &cap_tests, n_tests + 1, sizeof *tests);
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

const char *test_shared(const char *rel)
{
    static char buf[4][1024];
    static int k;
    const char *root = getenv("PERSONA_SHARED");
    char *b = buf[k++ & 3];
    snprintf(b, 1024, "%s/%s", root ? root : "../shared", rel);
    return b;
}

int test_have_shared(void)
{
    struct stat st;
    return stat(test_shared("DESIGN.md"), &st) == 0;
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/persona-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

const char *test_tmp(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%s/%s", test_tmpdir(), name);
    return b;
}

const char *test_write_file(const char *name, const char *data, size_t len)
{
    const char *p = test_tmp(name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(2);
    }
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct ps_buf b;
    char chunk[65536];
    size_t n;
    ps_buf_init(&b);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ps_buf_append(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return b.data;
}

static int cmp_test(const void *a, const void *b)
{
    return strcmp(((const struct test_case *)a)->name, ((const struct test_case *)b)->name);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;

    qsort(tests, n_tests, sizeof *tests, cmp_test);
    for (size_t i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter))
            continue;
        test_failures = 0;
        double t0 = ps_now();
        tests[i].fn();
        double dt = ps_now() - t0;
        if (test_failures) {
            failed++;
            printf("FAIL %s (%.2fs)\n", tests[i].name, dt);
        } else {
            passed++;
            printf("ok   %s (%.2fs)\n", tests[i].name, dt);
        }
        fflush(stdout);
    }
    if (tmpdir[0] && !getenv("PERSONA_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
    free(tests);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
