/*
 * textprep.h - texts to word tokens for topic models: English tokenising,
 * Chinese word segmentation, stopwords.
 *
 * Every text is first NFKC-normalised and case-folded (utf8proc), so
 * full-width letters and digits become ASCII and "Apple" == "apple".  It
 * is then cut into runs by script:
 *   - a run of Han ideographs goes to the Chinese word segmenter (friso,
 *     Debian's libfriso-dev + friso-dict, MMSEG "complex" mode; chosen over
 *     ICU's dictionary word break by agreement with jieba, see docs/topics.md);
 *   - a run of letters, digits and inner apostrophes (any script but Han)
 *     is one word.
 * A word is dropped when it is a stopword (data/stopwords/{en,zh}.txt), a
 * pure number (unless keep_numbers), or shorter than min_word_len code
 * points (non-Han words; Han words have min_han_len).
 *
 * Languages: PS_LANG_ZH and PS_LANG_AUTO segment Han runs and keep
 * Latin-script words (brand names in Chinese reviews), with both stopword
 * lists; PS_LANG_EN skips Han runs and uses the English list only.
 *
 * Thread safety: a struct ps_textprep is read-only after ps_textprep_new
 * and is shared by threads; each thread tokenises through its own
 * struct ps_textprep_worker.
 */
#ifndef PERSONA_TEXTPREP_H
#define PERSONA_TEXTPREP_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

enum ps_lang { PS_LANG_AUTO = 0, PS_LANG_ZH = 1, PS_LANG_EN = 2 };

struct ps_textprep_params {
    enum ps_lang lang;          /* see above; default AUTO */
    int min_word_len;           /* non-Han words: minimum code points (default 2) */
    int min_han_len;            /* Han words: minimum characters (default 1) */
    int keep_numbers;           /* keep all-digit words (default 0) */
    int use_stopwords;          /* apply the stopword lists (default 1) */
    const char *stopwords_dir;  /* folder with en.txt, zh.txt; NULL = search
                                   $PERSONA_DATA/stopwords, <exe>/../data/stopwords,
                                   ./data/stopwords; borrowed */
    const char *friso_ini;      /* friso configuration; NULL = $PERSONA_FRISO_INI
                                   or /etc/friso/friso.ini; borrowed */
};

struct ps_textprep_params ps_textprep_default_params(void);
/* Parses "auto", "zh" or "en"; returns -1 on anything else. */
int ps_lang_parse(const char *s, enum ps_lang *out);
const char *ps_lang_name(enum ps_lang lang);

struct ps_textprep;
struct ps_textprep_worker;

/* Loads stopwords and (unless lang is EN) the friso dictionary.  Errors
 * name the missing file, with a hint to install friso-dict. */
int ps_textprep_new(struct ps_textprep **out, const struct ps_textprep_params *p,
                    struct ps_err *err);
void ps_textprep_free(struct ps_textprep *tp);
const struct ps_textprep_params *ps_textprep_params(const struct ps_textprep *tp);
/* 1 if word (already normalised, lower case) is in a stopword list in use. */
int ps_textprep_is_stopword(const struct ps_textprep *tp, const char *word, size_t len);

/* Per-thread state (friso task, buffers). */
struct ps_textprep_worker *ps_textprep_worker_new(struct ps_textprep *tp);
void ps_textprep_worker_free(struct ps_textprep_worker *w);

/* Called for each kept word; word is NUL-terminated and borrowed for the
 * duration of the call. */
typedef void (*ps_word_fn)(const char *word, size_t len, void *ud);

/* Tokenises one UTF-8 text.  Invalid UTF-8 is PS_ERR_BAD_INPUT with the
 * byte offset (readers validate earlier; this is the library's own guard). */
int ps_textprep_words(struct ps_textprep_worker *w, const char *text, size_t len,
                      ps_word_fn fn, void *ud, struct ps_err *err);

/* Raw segmentation of one run of Han characters (no normalisation, no
 * filtering): the segmenter alone, for the agreement test and benchmarks. */
void ps_zh_words_cut(struct ps_textprep_worker *w, const char *han, size_t len,
                     ps_word_fn fn, void *ud);

/* 1 if the code point is a Han ideograph (CJK Unified Ideographs and
 * extensions, compatibility ideographs). */
int ps_is_han(uint32_t cp);

#endif
