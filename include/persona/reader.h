/*
 * reader.h - streaming reader for RFC 4180 CSV and JSON Lines.
 *
 * One record at a time, memory independent of file length.  CSV: quoted
 * fields with commas, doubled quotes and newlines; CRLF or LF; a UTF-8 BOM
 * at the start is skipped; a stray U+FEFF inside a field is removed;
 * delimiter ',', '\t' or ';' (given or sniffed from the first line);
 * header row or declared column names.  JSON Lines: one object per line;
 * columns are the declared names or the keys of the first object; values
 * become text (strings unescaped, numbers and booleans as written, null
 * and missing keys as empty fields).
 *
 * Every field is validated as UTF-8; an invalid byte makes the record bad
 * (PS_ERR_BAD_ROW) with its byte offset, never passed on.  Errors name the
 * file, the physical line (correct across embedded newlines) and the
 * column:  reviews.csv:17: column "text": invalid UTF-8 at byte 1043
 *
 * Thread safety: a reader is used by one thread at a time.
 */
#ifndef PERSONA_READER_H
#define PERSONA_READER_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

enum ps_format { PS_FORMAT_AUTO, PS_FORMAT_CSV, PS_FORMAT_JSONL };

struct ps_reader_params {
    enum ps_format format;     /* AUTO: by extension (.jsonl/.json/.ndjson = JSONL) then content */
    char delimiter;            /* 0 = sniff among ',', '\t', ';' */
    int has_header;            /* 1: first CSV record names the columns */
    const char *const *columns;/* declared column names (headerless CSV, or JSONL keys); borrowed */
    int n_columns;             /* number of declared columns, 0 = none */
    size_t max_field_bytes;    /* cap per field (default 1 MiB) */
    size_t max_record_bytes;   /* cap per record (default 16 MiB) */
    const char *display_name;  /* name used in messages (default: the path) */
    size_t block_bytes;        /* bytes per read (default 1 MiB); tests and the
                                  fuzzer use tiny blocks to move buffer edges */
};

struct ps_reader_params ps_reader_default_params(void);

struct ps_reader;

/* Opens path ("-" = stdin).  On failure *out is NULL and err says why
 * (missing file, unreadable header, duplicate column names, ...). */
int ps_reader_open(struct ps_reader **out, const char *path,
                   const struct ps_reader_params *params, struct ps_err *err);
void ps_reader_close(struct ps_reader *r);

/* Same as ps_reader_open, reading data[0..len) (borrowed: it must outlive
 * the reader).  Used by tests and the fuzzer; the name in messages is
 * params->display_name or "<memory>". */
int ps_reader_open_mem(struct ps_reader **out, const char *data, size_t len,
                       const struct ps_reader_params *params, struct ps_err *err);

/*
 * Advances to the next record.  Returns
 *   PS_OK          a record is ready;
 *   PS_DONE        end of input;
 *   PS_ERR_BAD_ROW the record is malformed (wrong field count, invalid
 *                  UTF-8, a field over the cap, unterminated quote at end of
 *                  file, bad JSON): ps_reader_errmsg says why and
 *                  ps_reader_raw holds its raw text; the next call continues
 *                  with the following record;
 *   other negative fatal (I/O error); do not call again.
 */
int ps_reader_next(struct ps_reader *r);

/* Columns (from the header, the declaration or the first JSON object). */
int ps_reader_n_columns(const struct ps_reader *r);
const char *ps_reader_column_name(const struct ps_reader *r, int i);
/* Index of a column by exact name, or -1. */
int ps_reader_column_index(const struct ps_reader *r, const char *name);

/* Field i of the current record (i < n_columns); NUL-terminated, borrowed,
 * valid until the next ps_reader_next.  *len may be NULL.  NULL (and
 * *len = 0) after a bad row.  See docs/reader.md for the dialect. */
const char *ps_reader_field(const struct ps_reader *r, int i, size_t *len);

/* 1-based physical line on which the current record starts. */
long ps_reader_line(const struct ps_reader *r);
/* Number of records returned so far (good and bad, header excluded). */
long ps_reader_record_index(const struct ps_reader *r);
/* The raw bytes of the current (or bad) record, without the final line
 * ending; borrowed, valid until the next call. May hold invalid UTF-8.
 * NUL-terminated; for a record over the size caps, its first
 * min(64 KiB, max_record_bytes) bytes. */
const char *ps_reader_raw(const struct ps_reader *r, size_t *len);
/* Message of the last error (fatal or bad row). */
const char *ps_reader_errmsg(const struct ps_reader *r);
/* Name used in messages. */
const char *ps_reader_name(const struct ps_reader *r);
/* Bytes consumed so far (for progress bars). */
uint64_t ps_reader_bytes_read(const struct ps_reader *r);

/* Format in use (CSV or JSONL, after sniffing). */
enum ps_format ps_reader_format(const struct ps_reader *r);
/* Delimiter in use (given or sniffed); 0 for JSON Lines. */
char ps_reader_delimiter(const struct ps_reader *r);
/* Bytes of memory the reader holds now (buffers); bounded by about
 * 2 x max_record_bytes + block_bytes whatever the input. */
size_t ps_reader_mem_bytes(const struct ps_reader *r);

/* Validates UTF-8; returns the offset of the first invalid byte or -1.
 * Rejects overlongs, surrogates and code points above U+10FFFF. */
long ps_utf8_invalid_offset(const char *s, size_t len);

#endif
