/*
 * hash.c - 64-bit hashing and the string interning map (see hash.h).
 *
 * The map is open addressing with linear probing over (hash, id) slots.
 * Keys live in an arena of fixed blocks that never move (so key pointers
 * stay valid until the map is freed); interning a million user ids costs
 * a few dozen allocations, not a million.
 */
#include "persona/hash.h"
#include "persona/core.h"

#include <stdlib.h>
#include <string.h>

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t ps_hash64(const void *data, size_t len, uint64_t seed)
{
    /* A simple multiply-mix over 8-byte words, finalised by murmur3's
     * fmix64.  Stable: the bytes define the result on every platform
     * (little-endian reads are assumed, as on every target we build). */
    const unsigned char *p = data;
    const uint64_t m = 0x9E3779B97F4A7C15ULL;
    uint64_t h = seed ^ (len * m);
    while (len >= 8) {
        uint64_t k = read64(p) * 0x87C37B91114253D5ULL;
        k = (k << 31) | (k >> 33);
        h = (h ^ (k * 0x4CF5AD432745937FULL)) * m + 0x52DCE729;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    h ^= tail * 0x87C37B91114253D5ULL;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

struct slot {
    uint64_t hash;
    uint32_t id_plus1; /* 0 = empty */
};

#define ARENA_BLOCK (256 * 1024) /* bytes per key block (bigger keys get their own) */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
};

struct ps_strmap {
    struct slot *slots;
    size_t mask;               /* n_slots - 1 (power of two) */
    struct arena_block *block; /* newest block first; keys NUL-terminated */
    char **keys;               /* id -> key in the arena */
    uint32_t *lens;            /* id -> key length */
    size_t ids_cap;
    uint32_t n;
};

static char *arena_alloc(struct ps_strmap *m, size_t n)
{
    struct arena_block *b = m->block;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = ps_xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        b->next = m->block;
        m->block = b;
    }
    char *p = b->data + b->used;
    b->used += n;
    return p;
}

struct ps_strmap *ps_strmap_new(void)
{
    struct ps_strmap *m = ps_xcalloc(1, sizeof *m);
    m->mask = 63;
    m->slots = ps_xcalloc(m->mask + 1, sizeof *m->slots);
    return m;
}

void ps_strmap_free(struct ps_strmap *m)
{
    if (!m)
        return;
    free(m->slots);
    for (struct arena_block *b = m->block, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(m->keys);
    free(m->lens);
    free(m);
}

static int key_eq(const struct ps_strmap *m, uint32_t id, const char *key, size_t len)
{
    return m->lens[id] == len && memcmp(m->keys[id], key, len) == 0;
}

static void rehash(struct ps_strmap *m)
{
    size_t n_slots = (m->mask + 1) * 2;
    struct slot *s = ps_xcalloc(n_slots, sizeof *s);
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->slots[i].id_plus1)
            continue;
        size_t j = m->slots[i].hash & (n_slots - 1);
        while (s[j].id_plus1)
            j = (j + 1) & (n_slots - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->mask = n_slots - 1;
}

int64_t ps_strmap_find(const struct ps_strmap *m, const char *key, size_t len)
{
    uint64_t h = ps_hash64(key, len, 0);
    size_t j = h & m->mask;
    while (m->slots[j].id_plus1) {
        uint32_t id = m->slots[j].id_plus1 - 1;
        if (m->slots[j].hash == h && key_eq(m, id, key, len))
            return id;
        j = (j + 1) & m->mask;
    }
    return -1;
}

uint32_t ps_strmap_intern(struct ps_strmap *m, const char *key, size_t len, int *inserted)
{
    uint64_t h = ps_hash64(key, len, 0);
    size_t j = h & m->mask;
    while (m->slots[j].id_plus1) {
        uint32_t id = m->slots[j].id_plus1 - 1;
        if (m->slots[j].hash == h && key_eq(m, id, key, len)) {
            if (inserted)
                *inserted = 0;
            return id;
        }
        j = (j + 1) & m->mask;
    }
    PS_ASSERT(m->n < UINT32_MAX - 1);
    uint32_t id = m->n++;
    if (m->n > m->ids_cap) {
        /* keys and lens grow together, geometrically. */
        size_t old_cap = m->ids_cap;
        m->keys = ps_xgrow(m->keys, &m->ids_cap, m->n, sizeof *m->keys);
        if (m->ids_cap != old_cap)
            m->lens = ps_xrealloc(m->lens, m->ids_cap * sizeof *m->lens);
    }
    PS_ASSERT(len < UINT32_MAX);
    char *k = arena_alloc(m, len + 1);
    memcpy(k, key, len);
    k[len] = '\0';
    m->keys[id] = k;
    m->lens[id] = (uint32_t)len;
    m->slots[j].hash = h;
    m->slots[j].id_plus1 = id + 1;
    if (inserted)
        *inserted = 1;
    if ((size_t)m->n * 4 > (m->mask + 1) * 3) /* load factor 0.75 */
        rehash(m);
    return id;
}

uint32_t ps_strmap_count(const struct ps_strmap *m)
{
    return m->n;
}

const char *ps_strmap_key(const struct ps_strmap *m, uint32_t id, size_t *len)
{
    PS_ASSERT(id < m->n);
    if (len)
        *len = m->lens[id];
    return m->keys[id];
}
