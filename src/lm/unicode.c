/*
 * unicode.c - UTF-8, character classes, lower-casing and normalisation for
 * the tokenizers (see unicode.h).
 *
 * Categories come from libutf8proc.  The GPT-2 pattern's \s is the Unicode
 * White_Space property, which is what Python's `regex` module (GPT-2's
 * encoder.py) and Oniguruma (Hugging Face tokenizers) match; JavaScript's
 * \s differs only in U+0085 (not whitespace there) and U+FEFF (whitespace
 * there).
 */
#include "lm/unicode.h"

#include "persona/core.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void ps__u32buf_push(struct ps__u32buf *a, uint32_t cp)
{
    if (a->n == a->cap)
        a->v = ps_xgrow(a->v, &a->cap, a->n + 1, sizeof *a->v);
    a->v[a->n++] = cp;
}

/* Allowed range of the second byte after a lead byte (Unicode Table 3-7). */
static void second_range(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c == 0xE0)
        *lo = 0xA0;
    else if (c == 0xED)
        *hi = 0x9F;
    else if (c == 0xF0)
        *lo = 0x90;
    else if (c == 0xF4)
        *hi = 0x8F;
}

/* Number of bytes a lead byte announces (0 = never valid as a lead). */
static size_t lead_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* Length of the valid prefix of the sequence at s (0 if the lead is bad,
 * need if complete and valid, else the count of bytes that were fine). */
static size_t valid_prefix(const unsigned char *s, size_t len, size_t *need)
{
    size_t n = lead_len(s[0]);
    *need = n;
    if (n <= 1)
        return n;
    unsigned char lo, hi;
    second_range(s[0], &lo, &hi);
    size_t k = 1;
    for (; k < n; k++) {
        if (k >= len)
            return k;
        unsigned char c = s[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF))
            return k;
    }
    return k;
}

size_t ps__utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t need, k = valid_prefix(s, len, &need);
    if (need == 0 || k != need)
        return 0;
    uint32_t v;
    if (need == 2)
        v = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    else if (need == 3)
        v = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    else
        v = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
            (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    *cp = v;
    return need;
}

long long ps__utf8_check(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs eight bytes at a time. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = ps__utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return (long long)i;
        i += n;
    }
    return -1;
}

size_t ps__utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

void ps__utf8_append_lossy(struct ps_buf *out, const unsigned char *s, size_t len)
{
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    size_t i = 0, run = 0; /* run: start of the pending valid bytes */
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t need, k = valid_prefix(s + i, len - i, &need);
        if (need != 0 && k == need) {
            i += need;
            continue;
        }
        ps_buf_append(out, s + run, i - run);
        ps_buf_append(out, fffd, 3);
        i += k ? k : 1;
        run = i;
    }
    ps_buf_append(out, s + run, len - run);
}

static int is_white_space(uint32_t cp)
{
    /* The Unicode White_Space property (PropList.txt). */
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

enum ps__uclass ps__uc_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return PS__UC_LETTER;
        if (cp >= '0' && cp <= '9')
            return PS__UC_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
            return PS__UC_SPACE;
        return PS__UC_OTHER;
    }
    if (is_white_space(cp))
        return PS__UC_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return PS__UC_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return PS__UC_NUMBER;
    default:
        return PS__UC_OTHER;
    }
}

int ps__uc_bert_is_control(uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return 0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
        return 1;
    default:
        return 0;
    }
}

int ps__uc_bert_is_whitespace(uint32_t cp)
{
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')
        return 1;
    return cp >= 0x80 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_ZS;
}

int ps__uc_bert_is_punct(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return 1;
    if (cp < 0x80)
        return 0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

int ps__uc_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int ps__uc_py_isspace(uint32_t cp)
{
    /* Python: bidirectional class WS, B or S, or category Zs. */
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return is_white_space(cp);
}

int ps__uc_is_mn(uint32_t cp)
{
    return cp >= 0x300 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN;
}

/* Derived property Cased (approximation: letters with case, and those that
 * change under case mapping). */
static int is_cased(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT)
        return 1;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp) != cp ||
           (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp) != cp;
}

/* Derived property Case_Ignorable: Mn, Me, Cf, Lm, Sk and the word-break
 * MidLetter / MidNumLet / Single_Quote characters. */
static int is_case_ignorable(uint32_t cp)
{
    switch (cp) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55:
    case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default:
        break;
    }
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        return 0;
    }
}

/* Unicode's Final_Sigma context for the sigma at w[i]. */
static int final_sigma(const uint32_t *w, size_t n, size_t i)
{
    size_t j = i;
    int before = 0;
    while (j > 0) {
        j--;
        if (is_case_ignorable(w[j]))
            continue;
        before = is_cased(w[j]);
        break;
    }
    if (!before)
        return 0;
    for (j = i + 1; j < n; j++) {
        if (is_case_ignorable(w[j]))
            continue;
        return !is_cased(w[j]);
    }
    return 1;
}

void ps__uc_lower(const uint32_t *w, size_t n, struct ps__u32buf *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = w[i];
        if (cp < 0x80) {
            ps__u32buf_push(out, cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        } else if (cp == 0x130) {
            ps__u32buf_push(out, 'i');
            ps__u32buf_push(out, 0x307);
        } else if (cp == 0x3A3) {
            ps__u32buf_push(out, final_sigma(w, n, i) ? 0x3C2 : 0x3C3);
        } else {
            ps__u32buf_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        }
    }
}

/* Characters that canonical normalisation leaves alone and that never
 * combine with a neighbour: ASCII and Latin-1 below U+00C0 (their
 * decompositions, if any, are compatibility ones), general punctuation
 * from U+2002 (U+2000/U+2001 decompose canonically), CJK symbols and
 * punctuation except the combining marks U+302A..U+302F, CJK unified
 * ideographs and the halfwidth/fullwidth forms.  A string of only these is
 * its own NFC and NFD; anything else goes through utf8proc. */
static inline int nf_inert(uint32_t cp)
{
    return cp < 0xC0 || (cp >= 0x2002 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x3029) ||
           (cp >= 0x3030 && cp <= 0x303F) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xFF00 && cp <= 0xFFEF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF);
}

int ps__uc_normalize(const uint32_t *w, size_t n, int compose, struct ps__u32buf *out)
{
    size_t k = 0;
    while (k < n && nf_inert(w[k]))
        k++;
    if (k == n) {
        if (out->cap < n + 1)
            out->v = ps_xgrow(out->v, &out->cap, n + 1, sizeof *out->v);
        memcpy(out->v, w, n * sizeof *w);
        out->n = n;
        return 0;
    }
    /* utf8proc decomposes and reorders UTF-8 input, so go through UTF-8. */
    char *s = ps_xmalloc(n * 4 + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += ps__utf8_encode(w[i], s + len);
    utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    size_t cap = n + 16;
    for (;;) {
        if (out->cap < cap)
            out->v = ps_xgrow(out->v, &out->cap, cap, sizeof *out->v);
        utf8proc_ssize_t r = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                                (utf8proc_int32_t *)out->v,
                                                (utf8proc_ssize_t)out->cap, opt);
        if (r < 0) {
            free(s);
            out->n = 0;
            return -1;
        }
        if ((size_t)r <= out->cap) {
            out->n = (size_t)r;
            break;
        }
        cap = (size_t)r;
    }
    free(s);
    if (compose) {
        utf8proc_ssize_t r = utf8proc_normalize_utf32((utf8proc_int32_t *)out->v,
                                                      (utf8proc_ssize_t)out->n,
                                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r < 0)
            return -1;
        out->n = (size_t)r;
    }
    return 0;
}
