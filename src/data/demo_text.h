/*
 * demo_text.h - internal: the text generator of the demo shop (reviews,
 * comments, inquiries, search queries, item titles and descriptions).
 *
 * Category vocabularies live in demo_text.c; persona vocabularies live in
 * the persona table of demo.c and come in through struct ps_demo_persona.
 * Every function appends to a ps_buf and draws only from the rng given, so
 * the caller controls determinism.
 */
#ifndef PERSONA_DEMO_TEXT_H
#define PERSONA_DEMO_TEXT_H

#include "persona/core.h"
#include "persona/demo.h"
#include "persona/rng.h"

enum { PS__DEMO_ZH = 0, PS__DEMO_EN = 1 };

/* Brands of a category: count and name in a language (static strings). */
int ps__demo_n_brands(int cat);
const char *ps__demo_brand(int cat, int brand, int lang);
/* Median list price of a category in yuan and the sigma of its log. */
void ps__demo_price_model(int cat, double *median, double *sigma);

/* Bilingual item title ("zh / en") and description. */
void ps__demo_item_title(struct ps_buf *b, int cat, int brand, struct ps_rng *r);
void ps__demo_item_description(struct ps_buf *b, int cat, int brand, struct ps_rng *r);

/* A review with a star rating 1..5 in language lang (PS__DEMO_ZH/EN). */
void ps__demo_review(struct ps_buf *b, const struct ps_demo_persona *p, int cat,
                     int rating, int lang, struct ps_rng *r);
/* A follow-up comment, a pre-sale inquiry, a search query. */
void ps__demo_comment(struct ps_buf *b, int cat, int rating, int lang, struct ps_rng *r);
void ps__demo_inquiry(struct ps_buf *b, const struct ps_demo_persona *p, int cat,
                      int lang, struct ps_rng *r);
void ps__demo_query(struct ps_buf *b, const struct ps_demo_persona *p, int cat,
                    int lang, struct ps_rng *r);

#endif
