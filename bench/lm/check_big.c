/*
 * check_big.c - persona vs bench/lm/check_big.py (PyTorch reference) on the
 * GPT-2-124M-shaped checkpoint: hidden states and logits of a 16-token
 * text, and 16 greedy ids through the KV cache.
 *
 *   check_big MODEL_DIR REF.json
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "persona/lm.h"
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  json_error_t je; json_t *j = json_load_file(argv[2], 0, &je);
  struct ps_err err = {0}; struct ps_lm *m; if (!j || ps_lm_load(&m, argv[1], &err)) { fprintf(stderr, "usage: check_big MODEL_DIR REF.json\n"); return 2; };
  struct ps_lm_ctx_params cp = ps_lm_ctx_default_params(); cp.max_batch = 1; cp.max_tokens = 64; cp.kv_cache = 1; cp.logits = 1;
  struct ps_lm_ctx *ctx; ps_lm_ctx_new(&ctx, m, &cp, &err);
  int32_t ids[16]; for (int i = 0; i < 16; i++) ids[i] = json_integer_value(json_array_get(json_object_get(j, "ids"), i));
  int32_t len = 16; struct ps_lm_batch b = {.n_rows = 1, .stride = 16, .ids = ids, .lens = &len};
  ps_lm_forward(ctx, &b, &err);
  int nt; const float *h = ps_lm_hidden(ctx, 0, &nt); double dh = 0, dl = 0;
  for (int t = 0; t < 16; t++) for (int c = 0; c < 768; c++) dh = fmax(dh, fabs(h[t*768+c] - json_number_value(json_array_get(json_array_get(json_object_get(j, "hidden"), t), c))));
  const float *lg = ps_lm_logits(ctx, 0);
  for (int v = 0; v < 50257; v++) dl = fmax(dl, fabs(lg[v] - json_number_value(json_array_get(json_object_get(j, "logits"), v))));
  struct ps_lm_gen_params gp = ps_lm_gen_default_params(); gp.max_new = 16; gp.stop_at_eos = 0;
  int32_t *out; size_t n; ps_lm_generate(ctx, ids, 16, &gp, NULL, NULL, &out, &n, NULL, &err);
  int same = 0; while (same < (int)n && out[same] == json_integer_value(json_array_get(json_object_get(j, "new_ids"), same))) same++;
  printf("gpt2-124m-random: max|diff| hidden %.2e logits %.2e, greedy %d/%zu equal\n", dh, dl, same, n);
  return 0; }
