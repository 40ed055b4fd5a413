/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors header parser
 * (and, for inputs that look like JSON, the config.json parser).
 *
 * Any byte string must either be rejected with a message or yield tensor
 * views that lie entirely inside the input: the target reads every byte
 * of every tensor and converts the floating ones, so ASan reports any
 * view that escapes the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persona/lm.h"
#include "persona/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_safetensors *st = NULL;
    struct ps_err err = {0};
    if (ps_safetensors_parse(&st, data, size, "fuzz.safetensors", &err) == PS_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < ps_safetensors_n_tensors(st); i++) {
            const struct ps_st_tensor *t = ps_safetensors_tensor(st, i);
            const unsigned char *p = t->data;
            for (size_t k = 0; k < t->n_bytes; k++)
                sum += p[k];
            if (ps_safetensors_find(st, t->name) != t)
                abort();
            if (t->n_elems <= 4096) {
                float *f = malloc((t->n_elems ? t->n_elems : 1) * sizeof *f);
                ps_st_tensor_to_f32(t, f);
                free(f);
            }
        }
        (void)sum;
        ps_safetensors_close(st);
    } else if (err.msg[0] == '\0') {
        abort(); /* every rejection carries a message */
    }
    if (size > 0 && data[0] == '{') {
        struct ps_lm_config cfg;
        ps_lm_config_parse(&cfg, (const char *)data, size, "config.json", &err);
    }
    return 0;
}
