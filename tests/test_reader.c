/*
 * test_reader.c - tests of the CSV / JSON Lines reader (src/data/reader.c).
 *
 * Expected values are written by hand from RFC 4180 / the JSON spec, taken
 * from Python's csv and json modules (tests/fixtures/reader/, the
 * UTF-8 case list), or from the real files in ../shared/data.  Every
 * in-memory case is read with several block sizes (so the buffer edge
 * falls everywhere, inside quotes, CRLF pairs and UTF-8 sequences) and
 * with both line scanners (SSE2 and scalar): all runs must give the same,
 * expected, output.
 */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/core.h"
#include "persona/reader.h"
#include "persona/rng.h"
#include "data/utf8.h"

extern int ps__reader_force_scalar;

/* ------------------------------------------------------------------ */
/* Dump: one line per ps_reader_next call                              */

static void dump_escaped(struct ps_buf *b, const char *s, size_t n)
{
    /* Invalid UTF-8 is shown as \xNN escapes, valid text as itself. */
    int hex_high = ps__utf8_invalid_offset_ref(s, n) >= 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 && hex_high)
            ps_buf_printf(b, "\\x%02x", c);
        else if (c == '\n')
            ps_buf_append(b, "\\n", 2);
        else if (c == '\r')
            ps_buf_append(b, "\\r", 2);
        else if (c == '\t')
            ps_buf_append(b, "\\t", 2);
        else if (c == '\\')
            ps_buf_append(b, "\\\\", 2);
        else if (c < 0x20 || c == 0x7f)
            ps_buf_printf(b, "\\x%02x", c);
        else
            ps_buf_putc(b, (char)c);
    }
}

/* Reads everything; returns a malloc'd text:
 *   "open error: MSG\n"                      when open fails, else
 *   "columns: [a][b]\n" then per record
 *   "LINE ok [f1][f2]\n"  or  "LINE bad MSG | raw=RAW\n", and "done\n". */
static char *dump(const char *data, size_t len, const struct ps_reader_params *pa)
{
    struct ps_buf b;
    struct ps_reader *r;
    struct ps_err err = { 0 };
    ps_buf_init(&b);
    int rc = ps_reader_open_mem(&r, data, len, pa, &err);
    if (rc) {
        ps_buf_printf(&b, "open error: %s\n", err.msg);
        return b.data;
    }
    ps_buf_append(&b, "columns: ", 9);
    for (int i = 0; i < ps_reader_n_columns(r); i++) {
        const char *c = ps_reader_column_name(r, i);
        ps_buf_putc(&b, '[');
        dump_escaped(&b, c, strlen(c));
        ps_buf_putc(&b, ']');
    }
    ps_buf_putc(&b, '\n');
    long n = 0;
    while ((rc = ps_reader_next(r)) != PS_DONE) {
        n++;
        if (ps_reader_record_index(r) != n)
            ps_buf_printf(&b, "record index %ld, expected %ld\n", ps_reader_record_index(r), n);
        size_t rl;
        const char *raw = ps_reader_raw(r, &rl);
        if (rc == PS_OK) {
            ps_buf_printf(&b, "%ld ok ", ps_reader_line(r));
            for (int i = 0; i < ps_reader_n_columns(r); i++) {
                size_t fl;
                const char *f = ps_reader_field(r, i, &fl);
                if (strlen(f) != fl)
                    ps_buf_printf(&b, "(len %zu != strlen %zu)", fl, strlen(f));
                ps_buf_putc(&b, '[');
                dump_escaped(&b, f, fl);
                ps_buf_putc(&b, ']');
            }
            ps_buf_putc(&b, '\n');
        } else if (rc == PS_ERR_BAD_ROW) {
            ps_buf_printf(&b, "%ld bad %s | raw=", ps_reader_line(r), ps_reader_errmsg(r));
            dump_escaped(&b, raw, rl);
            ps_buf_putc(&b, '\n');
        } else {
            ps_buf_printf(&b, "fatal %d %s\n", rc, ps_reader_errmsg(r));
            break;
        }
        if (raw[rl] != '\0')
            ps_buf_printf(&b, "raw not NUL-terminated\n");
        if (n > 100000)
            break;
    }
    if (rc == PS_DONE)
        ps_buf_append(&b, "done\n", 5);
    ps_reader_close(r);
    return b.data;
}

static const size_t blocks[] = { 0, 1, 2, 3, 5, 7, 16, 64 };

/* Runs dump with every block size and both scanners; checks each against
 * `expect`.  Returns the number of mismatches (reported on stderr). */
static int check_dump_params(const char *data, size_t len, struct ps_reader_params pa,
                             const char *expect, const char *where)
{
    int bad = 0;
    for (int scalar = 0; scalar < 2; scalar++) {
        ps__reader_force_scalar = scalar;
        for (size_t k = 0; k < sizeof blocks / sizeof *blocks; k++) {
            pa.block_bytes = blocks[k];
            char *got = dump(data, len, &pa);
            if (strcmp(got, expect) != 0) {
                if (!bad)
                    fprintf(stderr, "  %s (block %zu, scalar %d):\n--- got\n%s--- expected\n%s",
                            where, blocks[k], scalar, got, expect);
                bad++;
            }
            free(got);
        }
    }
    ps__reader_force_scalar = 0;
    return bad;
}

#define CHECK_DUMP(data, pa, expect)                                                    \
    do {                                                                                \
        char where_[256];                                                               \
        snprintf(where_, sizeof where_, "%s:%d", __FILE__, __LINE__);                   \
        if (check_dump_params(data, sizeof(data) - 1, pa, expect, where_))              \
            test_failures++;                                                            \
    } while (0)

static struct ps_reader_params named(const char *name)
{
    struct ps_reader_params p = ps_reader_default_params();
    p.display_name = name;
    return p;
}

/* ------------------------------------------------------------------ */
/* RFC 4180 basics                                                     */

TEST(reader_csv_basic)
{
    CHECK_DUMP("a,b,c\n1,2,3\nx,,z\n", named("t.csv"),
               "columns: [a][b][c]\n"
               "2 ok [1][2][3]\n"
               "3 ok [x][][z]\n"
               "done\n");
    /* No final newline; empty fields at both ends. */
    CHECK_DUMP("a,b,c\n,,\n1,2,3", named("t.csv"),
               "columns: [a][b][c]\n"
               "2 ok [][][]\n"
               "3 ok [1][2][3]\n"
               "done\n");
    /* Long unquoted fields cross the 16-byte SIMD steps. */
    CHECK_DUMP("id,text\n12345678901234567890,abcdefghijklmnopqrstuvwxyz0123456789\n",
               named("t.csv"),
               "columns: [id][text]\n"
               "2 ok [12345678901234567890][abcdefghijklmnopqrstuvwxyz0123456789]\n"
               "done\n");
}

TEST(reader_csv_quotes)
{
    /* Commas, doubled quotes, empty quoted field, quoted header. */
    CHECK_DUMP("\"a\",\"b,c\"\n\"x,y\",\"he said \"\"hi\"\"\"\n\"\",\"\"\"\"\n", named("q.csv"),
               "columns: [a][b,c]\n"
               "2 ok [x,y][he said \"hi\"]\n"
               "3 ok [][\"]\n"
               "done\n");
    /* Policy: a quote inside an unquoted field is a literal character. */
    CHECK_DUMP("size,name\n5\",TV 40\" wide\nab\"c\"d,e\n", named("q.csv"),
               "columns: [size][name]\n"
               "2 ok [5\"][TV 40\" wide]\n"
               "3 ok [ab\"c\"d][e]\n"
               "done\n");
    /* A space before the opening quote makes the field unquoted. */
    CHECK_DUMP("a,b\n \"x\",y\n", named("q.csv"),
               "columns: [a][b]\n"
               "2 ok [ \"x\"][y]\n"
               "done\n");
}

TEST(reader_csv_embedded_newlines)
{
    /* Line numbers stay physical across newlines inside quotes. */
    CHECK_DUMP("id,text\n1,\"first\nsecond\n\nthird\"\n2,plain\n3,\"x\r\ny\"\n4,end\n",
               named("n.csv"),
               "columns: [id][text]\n"
               "2 ok [1][first\\nsecond\\n\\nthird]\n"
               "6 ok [2][plain]\n"
               "7 ok [3][x\\r\\ny]\n"
               "9 ok [4][end]\n"
               "done\n");
}

TEST(reader_csv_crlf_and_blank_lines)
{
    CHECK_DUMP("a,b\r\n1,2\r\n\r\n\"q\",\"r\"\r\n3,4\r", named("c.csv"),
               "columns: [a][b]\n"
               "2 ok [1][2]\n"
               "4 ok [q][r]\n"
               "5 ok [3][4]\n"
               "done\n");
    /* Blank lines anywhere are skipped but counted. */
    CHECK_DUMP("\n\na,b\n\n1,2\n\n\n3,4\n\n", named("c.csv"),
               "columns: [a][b]\n"
               "5 ok [1][2]\n"
               "8 ok [3][4]\n"
               "done\n");
    /* A lone CR inside a field is data; only CR before LF or EOF ends a line. */
    CHECK_DUMP("a,b\nx\ry,z\n", named("c.csv"),
               "columns: [a][b]\n"
               "2 ok [x\\ry][z]\n"
               "done\n");
}

TEST(reader_csv_bom_and_feff)
{
    CHECK_DUMP("\xEF\xBB\xBF" "cat,label\n\xEF\xBB\xBF书籍,1\n", named("z.csv"),
               "columns: [cat][label]\n"
               "2 ok [书籍][1]\n"
               "done\n");
    /* Stray U+FEFF anywhere in a field (quoted or not) is removed;
     * other EF xx yy characters (U+FF0C fullwidth comma) stay. */
    CHECK_DUMP("a,b\nx\xEF\xBB\xBFy\xEF\xBB\xBF,\"\xEF\xBB\xBF好，\xEF\xBB\xBF\"\n\xEF\xBB\xBF,\xEF\xBC\x8C\n",
               named("z.csv"),
               "columns: [a][b]\n"
               "2 ok [xy][好，]\n"
               "3 ok [][，]\n"
               "done\n");
}

TEST(reader_csv_delimiters)
{
    CHECK_DUMP("a\tb\tc\n1\t2,5\t3\n", named("t.tsv"),
               "columns: [a][b][c]\n"
               "2 ok [1][2,5][3]\n"
               "done\n");
    CHECK_DUMP("a;b\n\"1;2\";3,5\n", named("s.csv"),
               "columns: [a][b]\n"
               "2 ok [1;2][3,5]\n"
               "done\n");
    /* A comma inside quotes does not count when sniffing. */
    CHECK_DUMP("\"x,y,z\";b\n1;2\n", named("s.csv"),
               "columns: [x,y,z][b]\n"
               "2 ok [1][2]\n"
               "done\n");
    struct ps_reader_params p = named("p.csv");
    p.delimiter = '|';
    CHECK_DUMP("a|b\n1,2|3\n", p,
               "columns: [a][b]\n"
               "2 ok [1,2][3]\n"
               "done\n");
    p.delimiter = '"';
    CHECK_DUMP("a\n", p, "open error: invalid delimiter 0x22\n");

    struct ps_reader *r;
    struct ps_err err = { 0 };
    static const char tsv[] = "a\tb\n1\t2\n";
    p = ps_reader_default_params();
    CHECK_INT(ps_reader_open_mem(&r, tsv, sizeof tsv - 1, &p, &err), PS_OK);
    CHECK_INT(ps_reader_delimiter(r), '\t');
    CHECK_INT(ps_reader_format(r), PS_FORMAT_CSV);
    ps_reader_close(r);
}

TEST(reader_csv_headerless)
{
    static const char *const cols[] = { "user_id", "item_id", "behavior" };
    struct ps_reader_params p = named("h.csv");
    p.has_header = 0;
    p.columns = cols;
    p.n_columns = 3;
    CHECK_DUMP("1,10,pv\n2,20,buy\n", p,
               "columns: [user_id][item_id][behavior]\n"
               "1 ok [1][10][pv]\n"
               "2 ok [2][20][buy]\n"
               "done\n");
    /* Sniffing prefers the delimiter that gives the declared count. */
    CHECK_DUMP("1;1,5;pv\n", p,
               "columns: [user_id][item_id][behavior]\n"
               "1 ok [1][1,5][pv]\n"
               "done\n");
    /* Header and declared names: the declared names replace the header's. */
    p.has_header = 1;
    CHECK_DUMP("u,i,b\n1,2,3\n", p,
               "columns: [user_id][item_id][behavior]\n"
               "2 ok [1][2][3]\n"
               "done\n");
    CHECK_DUMP("u,i\n1,2\n", p, "open error: h.csv:1: header has 2 columns, 3 declared\n");
    /* No header, nothing declared: the first record fixes the count and
     * the columns are named 1..n. */
    p = named("h.csv");
    p.has_header = 0;
    CHECK_DUMP("x,y\n1,2\n3\n", p,
               "columns: [1][2]\n"
               "1 ok [x][y]\n"
               "2 ok [1][2]\n"
               "3 bad h.csv:3: column 2: missing field (expected 2 fields, got 1) | raw=3\n"
               "done\n");
    CHECK_DUMP("", p, "columns: \ndone\n");
}

TEST(reader_columns_by_name)
{
    static const char data[] = "user_id,ts,event\nu1,100,view\n";
    struct ps_reader *r;
    struct ps_err err = { 0 };
    struct ps_reader_params p = ps_reader_default_params();
    CHECK_INT(ps_reader_open_mem(&r, data, sizeof data - 1, &p, &err), PS_OK);
    CHECK_INT(ps_reader_n_columns(r), 3);
    CHECK_INT(ps_reader_column_index(r, "event"), 2);
    CHECK_INT(ps_reader_column_index(r, "user_id"), 0);
    CHECK_INT(ps_reader_column_index(r, "Event"), -1);
    CHECK_INT(ps_reader_column_index(r, "missing"), -1);
    CHECK_STR(ps_reader_name(r), "<memory>");
    CHECK_INT(ps_reader_next(r), PS_OK);
    CHECK_STR(ps_reader_field(r, ps_reader_column_index(r, "ts"), NULL), "100");
    CHECK_INT(ps_reader_bytes_read(r), sizeof data - 1);
    CHECK_INT(ps_reader_next(r), PS_DONE);
    ps_reader_close(r);
}

/* ------------------------------------------------------------------ */
/* Bad rows                                                            */

TEST(reader_csv_field_count)
{
    CHECK_DUMP("a,b,c\n1,2\n1,2,3,4,5\n7,8,9\n", named("f.csv"),
               "columns: [a][b][c]\n"
               "2 bad f.csv:2: column \"c\": missing field (expected 3 fields, got 2) | raw=1,2\n"
               "3 bad f.csv:3: column 4: unexpected field (expected 3 fields, got 5) | raw=1,2,3,4,5\n"
               "4 ok [7][8][9]\n"
               "done\n");
    /* The line is that of the missing / extra field, inside a multi-line record. */
    CHECK_DUMP("a,b,c\n\"x\ny\",z\n1,\"p\nq\",3,\"r\"\n", named("f.csv"),
               "columns: [a][b][c]\n"
               "2 bad f.csv:3: column \"c\": missing field (expected 3 fields, got 2) | raw=\"x\\ny\",z\n"
               "4 bad f.csv:5: column 4: unexpected field (expected 3 fields, got 4) | raw=1,\"p\\nq\",3,\"r\"\n"
               "done\n");
}

TEST(reader_csv_quote_errors)
{
    CHECK_DUMP("a,b\n\"ab\"c,d\n1,2\n\"x\" ,y\n\"x\"\x01,y\n", named("q.csv"),
               "columns: [a][b]\n"
               "2 bad q.csv:2: column \"a\": unexpected \"c\" after closing quote | raw=\"ab\"c,d\n"
               "3 ok [1][2]\n"
               "4 bad q.csv:4: column \"a\": unexpected \" \" after closing quote | raw=\"x\" ,y\n"
               "5 bad q.csv:5: column \"a\": unexpected byte 0x01 after closing quote | raw=\"x\"\\x01,y\n"
               "done\n");
    /* Unterminated quote at end of file: named where the quote opened. */
    CHECK_DUMP("a,b\n1,2\n3,\"abc\n4,5\n", named("u.csv"),
               "columns: [a][b]\n"
               "2 ok [1][2]\n"
               "3 bad u.csv:3: column \"b\": unterminated quoted field at end of file | raw=3,\"abc\\n4,5\\n\n"
               "done\n");
    CHECK_DUMP("a,b\n1,\"", named("u.csv"),
               "columns: [a][b]\n"
               "2 bad u.csv:2: column \"b\": unterminated quoted field at end of file | raw=1,\"\n"
               "done\n");
}

TEST(reader_csv_invalid_utf8)
{
    /* Byte offsets are 0-based offsets in the file. */
    CHECK_DUMP("a,b\nok,\xC3\xA9\nx,\xC0\x80\n\xED\xA0\x80,y\n", named("u.csv"),
               "columns: [a][b]\n"
               "2 ok [ok][é]\n"
               "3 bad u.csv:3: column \"b\": invalid UTF-8 at byte 12 | raw=x,\\xc0\\x80\n"
               "4 bad u.csv:4: column \"a\": invalid UTF-8 at byte 15 | raw=\\xed\\xa0\\x80,y\n"
               "done\n");
    /* Truncated sequence cut by the delimiter, > U+10FFFF, inside quotes
     * on the second line of a record, NUL byte. */
    CHECK_DUMP("a,b\n\xE4\xB8,z\n\xF4\x90\x80\x80,1\n\"x\ny\xFF\",2\n\"n\x00l\",3\n",
               named("u.csv"),
               "columns: [a][b]\n"
               "2 bad u.csv:2: column \"a\": invalid UTF-8 at byte 4 | raw=\\xe4\\xb8,z\n"
               "3 bad u.csv:3: column \"a\": invalid UTF-8 at byte 9 | raw=\\xf4\\x90\\x80\\x80,1\n"
               "4 bad u.csv:5: column \"a\": invalid UTF-8 at byte 20 | raw=\"x\\ny\\xff\",2\n"
               "6 bad u.csv:6: column \"a\": NUL byte at byte 27 | raw=\"n\\x00l\",3\n"
               "done\n");
}

TEST(reader_csv_caps)
{
    struct ps_reader_params p = named("cap.csv");
    p.max_field_bytes = 4;
    p.max_record_bytes = 12;
    CHECK_DUMP("a,b\n1234,x\n12345,x\nx,\"1\"\"3\"\n\"12\"\"45\",y\n1234,1234567\n1,2\n", p,
               "columns: [a][b]\n"
               "2 ok [1234][x]\n"
               "3 bad cap.csv:3: column \"a\": field is too big (more than 4 bytes) | raw=12345,x\n"
               "4 bad cap.csv:4: column \"b\": field is too big (more than 4 bytes) | raw=x,\"1\"\"3\"\n"
               "5 bad cap.csv:5: column \"a\": field is too big (more than 4 bytes) | raw=\"12\"\"45\",y\n"
               "6 bad cap.csv:6: column \"b\": field is too big (more than 4 bytes) | raw=1234,1234567\n"
               "7 ok [1][2]\n"
               "done\n");
    /* Record cap: the column is the one holding byte max_record + 1. */
    p.max_field_bytes = 0; /* default */
    CHECK_DUMP("a,b\n12345678,12345\n\"1\n2\",\"3456789\nabc\"\n1,2\n", p,
               "columns: [a][b]\n"
               "2 bad cap.csv:2: column \"b\": record is too big (more than 12 bytes) | raw=12345678,123\n"
               "3 bad cap.csv:4: column \"b\": record is too big (more than 12 bytes) | raw=\"1\\n2\",\"34567\n"
               "6 ok [1][2]\n"
               "done\n");
}

/* ------------------------------------------------------------------ */
/* Open errors                                                         */

TEST(reader_open_errors)
{
    CHECK_DUMP("", named("e.csv"), "open error: e.csv: empty file: no header\n");
    CHECK_DUMP("\n\n", named("e.csv"), "open error: e.csv: empty file: no header\n");
    CHECK_DUMP("a,b,a\n", named("e.csv"),
               "open error: e.csv:1: duplicate column name \"a\" (columns 1 and 3)\n");
    CHECK_DUMP("\xFF\xFE" "a\0,\0b\0\n\0", named("w.csv"),
               "open error: w.csv: UTF-16 text (byte order mark FF FE): convert it to UTF-8 "
               "(e.g. iconv -f UTF-16 -t UTF-8)\n");
    CHECK_DUMP("\x1F\x8B\x08\0", named("e.csv.gz"),
               "open error: e.csv.gz: gzip-compressed: decompress it first "
               "(e.g. zcat FILE | persona ... -)\n");
    CHECK_DUMP("a,\xFF\n", named("e.csv"),
               "open error: e.csv:1: column 2: invalid UTF-8 at byte 2 (in the header)\n");

    struct ps_reader *r;
    struct ps_err err = { 0 };
    CHECK_INT(ps_reader_open(&r, "/nonexistent/x.csv", NULL, &err), PS_ERR_IO);
    CHECK(r == NULL);
    CHECK_STR(err.msg, "cannot open \"/nonexistent/x.csv\": No such file or directory");

    static const char *const dup[] = { "a", "a" };
    struct ps_reader_params p = ps_reader_default_params();
    p.columns = dup;
    p.n_columns = 2;
    CHECK_INT(ps_reader_open_mem(&r, "1,2\n", 4, &p, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "duplicate declared column \"a\"");
}

TEST(reader_io_paths)
{
    /* Huge caps are clamped (no overflow in cap + 1). */
    {
        static const char d2[] = "a,b\n1,2\n";
        struct ps_reader_params hp = ps_reader_default_params();
        hp.max_field_bytes = (size_t)-1;
        hp.max_record_bytes = (size_t)-1;
        hp.block_bytes = 3;
        struct ps_reader *hr;
        struct ps_err herr = { 0 };
        CHECK_INT(ps_reader_open_mem(&hr, d2, sizeof d2 - 1, &hp, &herr), PS_OK);
        if (hr) {
            CHECK_INT(ps_reader_next(hr), PS_OK);
            CHECK_STR(ps_reader_field(hr, 1, NULL), "2");
            ps_reader_close(hr);
        }
    }
    /* A directory opens but cannot be read: a fatal I/O error at open. */
    struct ps_reader *r;
    struct ps_err err = { 0 };
    CHECK_INT(ps_reader_open(&r, "tests", NULL, &err), PS_ERR_IO);
    CHECK_STR(err.msg, "tests: read error: Is a directory");

    /* "-" reads standard input, named <stdin>; .jsonl is sniffed by name. */
    static const char data[] = "{\"a\": 1}\n{\"a\": \"x\"}\n";
    const char *path = test_write_file("in.jsonl", data, sizeof data - 1);
    int saved = dup(0), fd = open(path, O_RDONLY);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 0);
    close(fd);
    struct ps_reader_params p = ps_reader_default_params();
    p.format = PS_FORMAT_JSONL;
    CHECK_INT(ps_reader_open(&r, "-", &p, &err), PS_OK);
    if (r) {
        CHECK_STR(ps_reader_name(r), "<stdin>");
        CHECK_INT(ps_reader_next(r), PS_OK);
        CHECK_STR(ps_reader_field(r, 0, NULL), "1");
        CHECK_INT(ps_reader_next(r), PS_OK);
        CHECK_STR(ps_reader_field(r, 0, NULL), "x");
        CHECK_INT(ps_reader_next(r), PS_DONE);
        CHECK_INT(ps_reader_next(r), PS_DONE);
        ps_reader_close(r);
    }
    dup2(saved, 0);
    close(saved);
    CHECK_INT(ps_reader_open(&r, path, NULL, &err), PS_OK);
    if (r) {
        CHECK_INT(ps_reader_format(r), PS_FORMAT_JSONL);
        CHECK_INT(ps_reader_delimiter(r), 0);
        CHECK_STR(ps_reader_name(r), path);
        ps_reader_close(r);
    }
    ps_reader_close(NULL);
}

/* ------------------------------------------------------------------ */
/* JSON Lines                                                          */

TEST(reader_jsonl_values)
{
    struct ps_reader_params p = named("r.jsonl");
    p.format = PS_FORMAT_JSONL;
    CHECK_DUMP("{\"s\": \"a\\\"b\\u00e9\\n\", \"n\": 5.0, \"i\": -0, \"e\": 1E+3, "
               "\"big\": 123456789012345678901234567890, \"t\": true, \"f\": false, "
               "\"z\": null, \"o\": {\"k\": [1, 2.50, \"x\"]}, \"a\": []}\n"
               "{\"n\": 7, \"extra\": 1}\n"
               "\n"
               "{\"s\": \"\\ufeffhi\"}\r\n",
               p,
               "columns: [s][n][i][e][big][t][f][z][o][a]\n"
               "1 ok [a\"bé\\n][5.0][-0][1E+3][123456789012345678901234567890][true][false][][{\"k\":[1,2.50,\"x\"]}][[]]\n"
               "2 ok [][7][][][][][][][][]\n"
               "4 ok [hi][][][][][][][][][]\n"
               "done\n");
}

TEST(reader_jsonl_errors)
{
    struct ps_reader_params p = named("e.jsonl");
    p.format = PS_FORMAT_JSONL;
    CHECK_DUMP("{\"a\": 1, \"b\": \"x\"}\n"
               "{\"a\": 2, \"b\": }\n"
               "[1, 2]\n"
               "{\"a\": 3, \"b\": \"\xC3\x28\"}\n"
               "{\"a\": 1, \"a\": 2}\n"
               "{\"a\": \"\\u0000\"}\n"
               "{\"a\": 4}\n",
               p,
               "columns: [a][b]\n"
               "1 ok [1][x]\n"
               "2 bad e.jsonl:2:15: invalid JSON: unexpected token near '}' | raw={\"a\": 2, \"b\": }\n"
               "3 bad e.jsonl:3: expected a JSON object, got an array | raw=[1, 2]\n"
               "4 bad e.jsonl:4: column \"b\": invalid UTF-8 at byte 57 | raw={\"a\": 3, \"b\": \"\\xc3(\"}\n"
               "5 bad e.jsonl:5:12: invalid JSON: duplicate object key near '\"a\"' | raw={\"a\": 1, \"a\": 2}\n"
               "6 bad e.jsonl:6:14: invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"' | raw={\"a\": \"\\\\u0000\"}\n"
               "7 ok [4][]\n"
               "done\n");
    /* Escaped surrogates: a pair is one code point, a lone one is bad
     * (it would decode to invalid UTF-8). */
    CHECK_DUMP("{\"a\": \"x\\ud800y\"}\n{\"a\": \"\\ud83d\\ude00\"}\n{\"a\": \"\\udc00\"}\n", p,
               "columns: [a]\n"
               "1 bad e.jsonl:1:16: invalid JSON: invalid Unicode '\\uD800' near '\"x\\ud800y\"' | raw={\"a\": \"x\\\\ud800y\"}\n"
               "2 ok [😀]\n"
               "3 bad e.jsonl:3:14: invalid JSON: invalid Unicode '\\uDC00' near '\"\\udc00\"' | raw={\"a\": \"\\\\udc00\"}\n"
               "done\n");
    /* Declared columns; the first line may be bad. */
    static const char *const cols[] = { "b", "a" };
    p.columns = cols;
    p.n_columns = 2;
    CHECK_DUMP("nope\n{\"a\": 1, \"b\": \"x\"}\n", p,
               "columns: [b][a]\n"
               "1 bad e.jsonl:1:4: invalid JSON: invalid token near 'nope' | raw=nope\n"
               "2 ok [x][1]\n"
               "done\n");
    /* Without declared columns the first valid object names them. */
    p.columns = NULL;
    p.n_columns = 0;
    CHECK_DUMP("nope\n{\"k\": 1}\n", p,
               "columns: [k]\n"
               "1 bad e.jsonl:1:4: invalid JSON: invalid token near 'nope' | raw=nope\n"
               "2 ok [1]\n"
               "done\n");
    CHECK_DUMP("", p, "open error: e.jsonl: empty file: no JSON object to name the columns\n");
}

/* ------------------------------------------------------------------ */
/* UTF-8 validation                                                    */

TEST(reader_utf8_cases)
{
    /* Hand cases: offset of the lead byte of the first bad sequence. */
    static const struct { const char *s; long off; } cases[] = {
        { "", -1 }, { "abc", -1 }, { "\xC3\xA9", -1 }, { "\xE4\xB8\xAD\xE6\x96\x87", -1 },
        { "\xF0\x9F\x98\x80", -1 }, { "\xF4\x8F\xBF\xBF", -1 }, { "\xEF\xBB\xBF", -1 },
        { "\xED\x9F\xBF", -1 }, { "\xEE\x80\x80", -1 },
        { "\xC0\x80", 0 }, { "\xC1\xBF", 0 }, { "a\xE0\x80\x80", 1 }, { "\xE0\x9F\xBF", 0 },
        { "\xF0\x80\x80\x80", 0 }, { "\xF0\x8F\xBF\xBF", 0 }, { "\xED\xA0\x80", 0 },
        { "ab\xED\xBF\xBF", 2 }, { "\xF4\x90\x80\x80", 0 }, { "\xF5\x80\x80\x80", 0 },
        { "\xFF", 0 }, { "\xFE", 0 }, { "\x80", 0 }, { "abcdefgh\xBF", 8 },
        { "\xE4\xB8", 0 }, { "xx\xE4", 2 }, { "\xF0\x9F\x98", 0 }, { "\xC3", 0 },
        { "\xE4\x41\x42", 0 }, { "\xC3\xA9\xC3", 2 }, { "abcdefghijklmnop\xC3\xA9q\xFF", 19 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].s);
        if (ps_utf8_invalid_offset(cases[i].s, n) != cases[i].off ||
            ps__utf8_invalid_offset_ref(cases[i].s, n) != cases[i].off) {
            test_failures++;
            fprintf(stderr, "  case %zu: fast %ld ref %ld expected %ld\n", i,
                    ps_utf8_invalid_offset(cases[i].s, n),
                    ps__utf8_invalid_offset_ref(cases[i].s, n), cases[i].off);
        }
    }
}

static int hexval(int c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

TEST(reader_utf8_python_reference)
{
    /* Lines "HEX OFFSET": random byte strings and the start offset that
     * Python's UTF-8 decoder reports (-1 = valid); see gen_utf8_cases.py. */
    char *txt = test_read_file("tests/fixtures/reader/utf8_cases.txt", NULL);
    CHECK(txt != NULL);
    if (!txt)
        return;
    int n = 0, bad = 0;
    char buf[512];
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        size_t len = (size_t)(sp - line) / 2;
        for (size_t i = 0; i < len && i < sizeof buf; i++)
            buf[i] = (char)(hexval(line[2 * i]) << 4 | hexval(line[2 * i + 1]));
        long want = atol(sp + 1);
        long fast = ps_utf8_invalid_offset(buf, len), ref = ps__utf8_invalid_offset_ref(buf, len);
        if (fast != want || ref != want) {
            if (bad++ < 5)
                fprintf(stderr, "  %s: fast %ld ref %ld\n", line, fast, ref);
        }
        n++;
    }
    free(txt);
    CHECK(n >= 1000);
    CHECK_INT(bad, 0);
}

TEST(reader_utf8_fast_vs_ref)
{
    /* Random mixes of ASCII runs and (mostly valid) multi-byte sequences. */
    struct ps_rng rng;
    ps_rng_seed(&rng, 42, 7);
    static const char *const pieces[] = {
        "a", "hello wo", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xEF\xBB\xBF",
        "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF", "\x80", "\xC0", "\xE0\x80", "\xED\xA0", "\xF4\x90",
        "\xF8", "\xFF", "\xE4\xB8", "12345678",
    };
    int bad = 0;
    char buf[256];
    for (int t = 0; t < 20000; t++) {
        size_t len = 0;
        int np = (int)ps_rng_below(&rng, 12);
        for (int k = 0; k < np; k++) {
            uint64_t x = ps_rng_below(&rng, 100);
            const char *pc = pieces[x < 90 ? x % 8 : 8 + x % 9];
            size_t pl = strlen(pc);
            if (len + pl < sizeof buf)
                memcpy(buf + len, pc, pl), len += pl;
        }
        if (ps_utf8_invalid_offset(buf, len) != ps__utf8_invalid_offset_ref(buf, len))
            bad++;
    }
    CHECK_INT(bad, 0);
}

/* ------------------------------------------------------------------ */
/* The bad-input corpus: tests/fixtures/reader/NAME.{csv,jsonl} next to  */
/* NAME.expected (the exact dump, optional "# params:" first line).      */

static void parse_params(char *line, struct ps_reader_params *p, const char **cols, int *ncols,
                         char *colbuf)
{
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
        if (!strncmp(tok, "header=", 7)) {
            p->has_header = atoi(tok + 7);
        } else if (!strncmp(tok, "max_field=", 10)) {
            p->max_field_bytes = (size_t)atol(tok + 10);
        } else if (!strncmp(tok, "max_record=", 11)) {
            p->max_record_bytes = (size_t)atol(tok + 11);
        } else if (!strncmp(tok, "delim=", 6)) {
            p->delimiter = !strcmp(tok + 6, "tab") ? '\t' : tok[6];
        } else if (!strncmp(tok, "columns=", 8)) {
            strcpy(colbuf, tok + 8);
            *ncols = 0;
            for (char *c = colbuf; c && *c;) {
                cols[(*ncols)++] = c;
                c = strchr(c, ',');
                if (c)
                    *c++ = '\0';
            }
            p->columns = cols;
            p->n_columns = *ncols;
        }
    }
}

TEST(reader_bad_input_corpus)
{
    const char *dir = "tests/fixtures/reader";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    int n_cases = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *dot = strrchr(de->d_name, '.');
        if (!dot || (strcmp(dot, ".csv") && strcmp(dot, ".jsonl")))
            continue;
        char path[512], exp_path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(exp_path, sizeof exp_path, "%s/%.*s.expected", dir, (int)(dot - de->d_name),
                 de->d_name);
        size_t len;
        char *data = test_read_file(path, &len);
        char *expect = test_read_file(exp_path, NULL);
        if (!expect) {
            test_failures++;
            fprintf(stderr, "  %s: missing %s\n", path, exp_path);
            free(data);
            continue;
        }
        struct ps_reader_params p = ps_reader_default_params();
        p.display_name = de->d_name;
        p.format = !strcmp(dot, ".jsonl") ? PS_FORMAT_JSONL : PS_FORMAT_CSV;
        const char *cols[64];
        int ncols = 0;
        char colbuf[1024];
        const char *body = expect;
        if (!strncmp(expect, "# params:", 9)) {
            char *nl = strchr(expect, '\n');
            char line[1024];
            size_t ll = (size_t)(nl - expect);
            memcpy(line, expect + 9, ll - 9);
            line[ll - 9] = '\0';
            parse_params(line, &p, cols, &ncols, colbuf);
            body = nl + 1;
        }
        if (check_dump_params(data, len, p, body, path))
            test_failures++;
        /* The file path gives the same result as memory. */
        struct ps_reader *r;
        struct ps_err err = { 0 };
        if (ps_reader_open(&r, path, &p, &err) == PS_OK)
            ps_reader_close(r);
        free(data);
        free(expect);
        n_cases++;
    }
    closedir(d);
    CHECK(n_cases >= 12);
}

/* ------------------------------------------------------------------ */
/* Real files in ../shared/data                                        */

TEST(reader_real_chinese_reviews)
{
    if (!test_have_shared()) {
        fprintf(stderr, "  skipped: ../shared not found\n");
        return;
    }
    struct ps_reader *r;
    struct ps_err err = { 0 };
    CHECK_INT(ps_reader_open(&r, test_shared("data/reviews-zh/online_shopping_10_cats.csv"),
                             NULL, &err), PS_OK);
    if (!r) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK_INT(ps_reader_n_columns(r), 3);
    CHECK_STR(ps_reader_column_name(r, 0), "cat");
    CHECK_STR(ps_reader_column_name(r, 1), "label");
    CHECK_STR(ps_reader_column_name(r, 2), "review");
    long n = 0, feff = 0, pos = 0, books = 0;
    int rc;
    while ((rc = ps_reader_next(r)) == PS_OK) {
        n++;
        for (int i = 0; i < 3; i++) {
            size_t fl;
            const char *f = ps_reader_field(r, i, &fl);
            if (memmem(f, fl, "\xEF\xBB\xBF", 3))
                feff++;
        }
        pos += strcmp(ps_reader_field(r, 1, NULL), "1") == 0;
        books += strcmp(ps_reader_field(r, 0, NULL), "书籍") == 0;
        if (n == 1) {
            /* Python csv: '\ufeff做父母一定要有刘墉这样的心态，不断地学' */
            CHECK_STR(ps_reader_field(r, 0, NULL), "书籍");
            CHECK(strncmp(ps_reader_field(r, 2, NULL), "做父母一定要有刘墉这样的心态，不断地学",
                          strlen("做父母一定要有刘墉这样的心态，不断地学")) == 0);
        }
    }
    CHECK_INT(rc, PS_DONE);
    CHECK_INT(n, 62774);
    CHECK_INT(feff, 0);
    CHECK_INT(books, 3851);   /* Python: collections.Counter over column cat */
    CHECK_INT(pos, 31728);
    ps_reader_close(r);
}

TEST(reader_real_taobao_headerless)
{
    if (!test_have_shared())
        return;
    static const char *const cols[] = { "user_id", "item_id", "category_id", "behavior_type",
                                        "timestamp" };
    struct ps_reader_params p = ps_reader_default_params();
    p.has_header = 0;
    p.columns = cols;
    p.n_columns = 5;
    struct ps_reader *r;
    struct ps_err err = { 0 };
    CHECK_INT(ps_reader_open(&r, test_shared("data/taobao/UserBehavior.csv"), &p, &err), PS_OK);
    if (!r)
        return;
    int ib = ps_reader_column_index(r, "behavior_type");
    long n = 0, pv = 0;
    int rc;
    while ((rc = ps_reader_next(r)) == PS_OK) {
        n++;
        pv += strcmp(ps_reader_field(r, ib, NULL), "pv") == 0;
        if (n == 1) {
            CHECK_STR(ps_reader_field(r, 0, NULL), "1");
            CHECK_STR(ps_reader_field(r, 1, NULL), "2268318");
            CHECK_STR(ps_reader_field(r, 4, NULL), "1511544070");
        }
    }
    CHECK_INT(rc, PS_DONE);
    CHECK_INT(n, 4321);
    CHECK_INT(pv, 3926);      /* Python csv */
    CHECK_INT(ps_reader_line(r), 4321);
    ps_reader_close(r);
}

TEST(reader_real_amazon_jsonl)
{
    if (!test_have_shared())
        return;
    struct ps_reader *r;
    struct ps_err err = { 0 };
    CHECK_INT(ps_reader_open(&r, test_shared("data/reviews-en/All_Beauty_5.json"), NULL, &err),
              PS_OK);
    if (!r)
        return;
    CHECK_INT(ps_reader_format(r), PS_FORMAT_JSONL);
    CHECK_INT(ps_reader_n_columns(r), 10);
    CHECK_STR(ps_reader_column_name(r, 0), "overall");
    CHECK_STR(ps_reader_column_name(r, 9), "unixReviewTime");
    int ct = ps_reader_column_index(r, "reviewText"), cs = ps_reader_column_index(r, "style");
    int co = ps_reader_column_index(r, "overall"), cr = ps_reader_column_index(r, "reviewerID");
    int cu = ps_reader_column_index(r, "unixReviewTime"), ci = ps_reader_column_index(r, "image");
    CHECK_INT(ci, -1);   /* "image" only appears in later objects */
    long n = 0, five = 0, empty_text = 0;
    int rc;
    while ((rc = ps_reader_next(r)) == PS_OK) {
        n++;
        five += strcmp(ps_reader_field(r, co, NULL), "5.0") == 0;
        empty_text += ps_reader_field(r, ct, NULL)[0] == '\0';
        if (n == 1) {
            CHECK_STR(ps_reader_field(r, cr, NULL), "A3CIUOJXQ5VDQ2");
            CHECK_STR(ps_reader_field(r, ct, NULL), "As advertised. Reasonably priced");
            CHECK_STR(ps_reader_field(r, cu, NULL), "1472688000");
            CHECK_STR(ps_reader_field(r, cs, NULL),
                      "{\"Size:\":\" 7.0 oz\",\"Flavor:\":\" Classic Ice Blue\"}");
        }
        if (n == 101)
            CHECK_STR(ps_reader_field(r, cr, NULL), "A3GM8H7MO9I4H7");
    }
    CHECK_INT(rc, PS_DONE);
    CHECK_INT(n, 5269);
    CHECK_INT(five, 4649);     /* Python json: overall == 5.0 */
    CHECK_INT(empty_text, 5); /* reviewText empty or missing */
    ps_reader_close(r);
}

/* ------------------------------------------------------------------ */
/* Memory stays bounded on a 100 MB field                              */

TEST(reader_huge_field_bounded)
{
    const char *path = test_tmp("huge.csv");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    fputs("id,text\n1,short\n2,", f);
    for (int i = 0; i < 100; i++)
        fwrite(chunk, 1, sizeof chunk, f);
    fputs("\n3,\"quoted ", f);
    for (int i = 0; i < 20; i++)
        fwrite(chunk, 1, sizeof chunk, f);
    fputs("\nstill quoted\"\n4,after\n", f);
    fclose(f);

    struct ps_reader_params p = ps_reader_default_params();
    p.display_name = "huge.csv";
    p.max_field_bytes = 1 << 16;
    p.max_record_bytes = 1 << 18;
    p.block_bytes = 1 << 18;
    struct ps_reader *r;
    struct ps_err err = { 0 };
    CHECK_INT(ps_reader_open(&r, path, &p, &err), PS_OK);
    if (!r)
        return;
    size_t peak = 0;
    CHECK_INT(ps_reader_next(r), PS_OK);
    CHECK_STR(ps_reader_field(r, 1, NULL), "short");
    CHECK_INT(ps_reader_next(r), PS_ERR_BAD_ROW);
    CHECK_STR(ps_reader_errmsg(r), "huge.csv:3: column \"text\": field is too big (more than 65536 bytes)");
    size_t rl;
    ps_reader_raw(r, &rl);
    CHECK_INT(rl, 64 << 10);
    peak = ps_reader_mem_bytes(r);
    CHECK_INT(ps_reader_next(r), PS_ERR_BAD_ROW);
    CHECK_STR(ps_reader_errmsg(r), "huge.csv:4: column \"text\": field is too big (more than 65536 bytes)");
    CHECK_INT(ps_reader_line(r), 4);
    if (ps_reader_mem_bytes(r) > peak)
        peak = ps_reader_mem_bytes(r);
    CHECK_INT(ps_reader_next(r), PS_OK);
    CHECK_INT(ps_reader_line(r), 6);
    CHECK_STR(ps_reader_field(r, 1, NULL), "after");
    CHECK_INT(ps_reader_next(r), PS_DONE);
    if (ps_reader_mem_bytes(r) > peak)
        peak = ps_reader_mem_bytes(r);
    CHECK(peak < (2u << 20));
    ps_reader_close(r);
    remove(path);

    /* The same for a 40 MB JSON line. */
    path = test_tmp("huge.jsonl");
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"id\": 1, \"text\": \"short\"}\n{\"id\": 2, \"text\": \"", f);
    for (int i = 0; i < 40; i++)
        fwrite(chunk, 1, sizeof chunk, f);
    fputs("\"}\n{\"id\": 3, \"text\": \"after\"}\n", f);
    fclose(f);
    p.display_name = "huge.jsonl";
    CHECK_INT(ps_reader_open(&r, path, &p, &err), PS_OK);
    if (!r)
        return;
    CHECK_INT(ps_reader_next(r), PS_OK);
    CHECK_INT(ps_reader_next(r), PS_ERR_BAD_ROW);
    CHECK_STR(ps_reader_errmsg(r), "huge.jsonl:2:262145: record is too big (more than 262144 bytes)");
    ps_reader_raw(r, &rl);
    CHECK_INT(rl, 64 << 10);
    CHECK_INT(ps_reader_next(r), PS_OK);
    CHECK_INT(ps_reader_line(r), 3);
    CHECK_STR(ps_reader_field(r, 1, NULL), "after");
    CHECK_INT(ps_reader_next(r), PS_DONE);
    CHECK(ps_reader_mem_bytes(r) < (2u << 20));
    ps_reader_close(r);
    remove(path);
}
