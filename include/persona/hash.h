/*
 * hash.h - 64-bit non-cryptographic hashing and a string interning map.
 *
 * ps_hash64 is for hash tables, sharding and holdout assignment (stable
 * across platforms and versions: changing it reshuffles users).  It is not
 * a MAC; pseudonymisation uses keyed hashing from libsodium instead.
 */
#ifndef PERSONA_HASH_H
#define PERSONA_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ps_hash64(const void *data, size_t len, uint64_t seed);

/*
 * String interning: maps byte strings to dense ids 0, 1, 2, ... in order of
 * first insertion.  Keys are copied into an internal arena.
 */
struct ps_strmap;

struct ps_strmap *ps_strmap_new(void);
void ps_strmap_free(struct ps_strmap *m);
/* Returns the id of key, inserting it if absent (*inserted set if given). */
uint32_t ps_strmap_intern(struct ps_strmap *m, const char *key, size_t len,
                          int *inserted);
/* Returns the id of key, or -1 if absent. */
int64_t ps_strmap_find(const struct ps_strmap *m, const char *key, size_t len);
uint32_t ps_strmap_count(const struct ps_strmap *m);
/* The key of an id; borrowed, valid until the map is freed.  NUL-terminated. */
const char *ps_strmap_key(const struct ps_strmap *m, uint32_t id, size_t *len);

#endif
