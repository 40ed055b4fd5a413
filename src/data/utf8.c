/*
 * utf8.c - UTF-8 validation (RFC 3629) for the reader.
 *
 * Valid means: shortest form only (no overlongs such as C0 80 or
 * E0 80 80), no surrogates (U+D800..U+DFFF, i.e. ED A0..BF xx), nothing
 * above U+10FFFF (F4 90.. and F5..FF), no stray continuation bytes and no
 * sequence cut short by the end of the buffer or by a non-continuation
 * byte.  The offset reported is that of the lead byte of the first bad
 * sequence, which is what Python's decoder reports as the error start.
 *
 * The fast version skips ASCII 8 bytes at a time, has a tight path for
 * the common 3-byte sequences (CJK) and checks the others with the byte
 * ranges of RFC 3629 table 3-7; the reference
 * decodes each code point and checks its value.  Both are byte-exact
 * equivalents (tests/test_reader.c compares them).
 */
#include <stdint.h>
#include <string.h>

#include "persona/reader.h"
#include "data/utf8.h"

long ps_utf8_invalid_offset(const char *s, size_t len)
{
    int feff;
    return ps__utf8_check_feff(s, len, &feff);
}

long ps__utf8_check_feff(const char *s, size_t len, int *has_feff)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    int feff = 0;

    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            /* ASCII: skip 8 bytes at a time while they have no high bit. */
            i++;
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            continue;
        }
        if (c >= 0xE1 && c != 0xED && c <= 0xEF) {
            /* The common 3-byte case (all of CJK): E1..EC, EE, EF with two
             * continuation bytes and no range exception. */
            if (len - i < 3 || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80)
                return (long)i;
            feff |= c == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF;
            i += 3;
            continue;
        }
        /* The rest: the second byte's range depends on the lead (RFC 3629
         * table 3-7); every later byte is 80..BF. */
        unsigned lo = 0x80, hi = 0xBF;
        size_t n;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0 || c == 0xED) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;       /* below is overlong */
            else
                hi = 0x9F;       /* above is a surrogate */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;       /* below is overlong */
            else if (c == 0xF4)
                hi = 0x8F;       /* above is past U+10FFFF */
        } else {
            return (long)i;      /* 80..C1 (stray or overlong lead), F5..FF */
        }
        if (len - i <= n)
            return (long)i;      /* truncated by the end of the buffer */
        if (p[i + 1] < lo || p[i + 1] > hi)
            return (long)i;
        for (size_t k = 2; k <= n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return (long)i;
        i += n + 1;
    }
    *has_feff = feff;
    return -1;
}

long ps__utf8_invalid_offset_ref(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i];
        uint32_t cp, min;
        size_t n;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return (long)i;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80)
                return (long)i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += n + 1;
    }
    return -1;
}

size_t ps__utf8_strip_feff(char *s, size_t len)
{
    char *end = s + len, *w = NULL, *r = s;

    for (;;) {
        char *e = memchr(r, 0xEF, (size_t)(end - r));
        if (!e || end - e < 3) {
            if (!w)
                return len;
            size_t n = (size_t)(end - r);
            memmove(w, r, n);
            return (size_t)(w - s) + n;
        }
        if ((unsigned char)e[1] == 0xBB && (unsigned char)e[2] == 0xBF) {
            if (!w) {
                w = e;
            } else {
                memmove(w, r, (size_t)(e - r));
                w += e - r;
            }
            r = e + 3;
        } else {
            /* Another EF xx yy character: keep it and move on. */
            if (w) {
                memmove(w, r, (size_t)(e + 1 - r));
                w += e + 1 - r;
                r = e + 1;
            } else {
                r = e + 1;
            }
        }
    }
}
