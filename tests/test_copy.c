/*
 * test_copy.c - prompt templates (parsing, the allow-list and its exact
 * errors), profile fields without personal data, per-user seeds, and
 * generation through the copy path against the PyTorch reference of
 * ../shared/lmref (greedy and sampled ids of gpt2-tiny-f32).
 */
#include "test.h"

#include "persona/copy.h"
#include "persona/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Parses src and returns the error message ("" when it parsed). */
static const char *parse_err(const char *src)
{
    static struct ps_err err;
    struct ps_copy_template *t = NULL;
    memset(&err, 0, sizeof err);
    int rc = ps_copy_template_parse(&t, src, strlen(src), "c.tmpl", &err);
    ps_copy_template_free(t);
    if (rc == PS_OK)
        return "";
    CHECK_INT(rc, PS_ERR_BAD_INPUT);
    return err.msg;
}

static char *fill(const char *src, const struct ps_copy_fields *f)
{
    struct ps_copy_template *t = NULL;
    struct ps_err err = {0};
    if (ps_copy_template_parse(&t, src, strlen(src), "c.tmpl", &err) != PS_OK) {
        fprintf(stderr, "  parse failed: %s\n", err.msg);
        return NULL;
    }
    struct ps_buf b;
    ps_buf_init(&b);
    ps_copy_template_fill(t, f, &b);
    ps_buf_putc(&b, '\0');
    ps_copy_template_free(t);
    return b.data;
}

TEST(copy_template_fills_fields_and_escapes)
{
    struct ps_copy_fields f;
    ps_copy_fields_init(&f);
    ps_copy_fields_set(&f, PS_COPY_SEGMENT_NAME, "high-spend · phone");
    ps_copy_fields_set(&f, PS_COPY_TOP_CATEGORY, "phone");
    ps_copy_fields_set(&f, PS_COPY_RECOMMENDED_ITEMS, "A; B");
    ps_copy_fields_set(&f, PS_COPY_RFM_TIER, "champions");
    ps_copy_fields_set(&f, PS_COPY_LIFECYCLE, "active");
    /* topic_words left unset: fills as "". Trailing newline trimmed. */
    char *p = fill("Hi {segment_name}! {{sale}} on {top_category}: {recommended_items}."
                   " [{rfm_tier}/{ lifecycle }] <{topic_words}>\n", &f);
    CHECK_STR(p, "Hi high-spend · phone! {sale} on phone: A; B. [champions/active] <>");
    free(p);
    p = fill("no placeholders }} {{}}", &f);
    CHECK_STR(p, "no placeholders } {}");
    free(p);

    struct ps_copy_template *t = NULL;
    struct ps_err err = {0};
    const char *src = "{top_item} and {lifecycle}";
    CHECK_INT(ps_copy_template_parse(&t, src, strlen(src), "x", &err), 0);
    CHECK(ps_copy_template_uses(t, PS_COPY_TOP_ITEM));
    CHECK(ps_copy_template_uses(t, PS_COPY_LIFECYCLE));
    CHECK(!ps_copy_template_uses(t, PS_COPY_RECOMMENDED_ITEMS));
    ps_copy_template_free(t);
    ps_copy_fields_release(&f);

    /* The allow-list, by name. */
    CHECK_INT(PS_COPY_N_FIELDS, 9);
    for (int i = 0; i < PS_COPY_N_FIELDS; i++) {
        const char *n = ps_copy_field_name((enum ps_copy_field)i);
        CHECK_INT(ps_copy_field_find(n, strlen(n)), i);
    }
    CHECK_INT(ps_copy_field_find("city", 4), -1);
}

TEST(copy_template_errors_point_at_the_placeholder)
{
    CHECK_STR(parse_err("Hello {city}!"),
              "c.tmpl:1:7: field \"city\" is personal data and never enters a prompt");
    CHECK_STR(parse_err("line one\n  line {segment_name} two {user_id}"),
              "c.tmpl:2:27: field \"user_id\" is personal data and never enters a prompt");
    /* Leading blank lines are trimmed but still counted. */
    CHECK_STR(parse_err("\n\n{ age }"),
              "c.tmpl:3:1: field \"age\" is personal data and never enters a prompt");
    CHECK_STR(parse_err("{attributes.gender}"),
              "c.tmpl:1:1: field \"attributes.gender\" is personal data and never enters a prompt");
    const char *personal[] = {"name", "email", "phone", "gender", "signup_ts", "address",
                              "birthday", "user"};
    for (size_t i = 0; i < sizeof personal / sizeof *personal; i++) {
        char src[64], want[128];
        snprintf(src, sizeof src, "x{%s}", personal[i]);
        snprintf(want, sizeof want, "c.tmpl:1:2: field \"%s\" is personal data and never enters "
                 "a prompt", personal[i]);
        CHECK_STR(parse_err(src), want);
    }
    CHECK_STR(parse_err("ab {segmentname}"),
              "c.tmpl:1:4: unknown field \"segmentname\" (allowed: segment_name, top_category, "
              "top_categories, recommended_items, top_item, rfm_tier, lifecycle, "
              "price_sensitivity, topic_words)");
    CHECK_STR(parse_err("a {} b"), "c.tmpl:1:3: empty placeholder \"{}\"");
    CHECK_STR(parse_err("a { } b"), "c.tmpl:1:3: empty placeholder \"{ }\"");
    CHECK_STR(parse_err("a {lifecycle b"),
              "c.tmpl:1:3: unclosed \"{\" (write \"{{\" for a literal brace)");
    CHECK_STR(parse_err("a {lifecycle\n}"),
              "c.tmpl:1:3: unclosed \"{\" (write \"{{\" for a literal brace)");
    CHECK_STR(parse_err("ok {lifecycle}\nthen } here"),
              "c.tmpl:2:6: unmatched \"}\" (write \"}}\" for a literal brace)");
    CHECK_STR(parse_err(" \n\t "), "c.tmpl: template is empty");
    CHECK_STR(parse_err(""), "c.tmpl: template is empty");
    /* UTF-8 before the placeholder: columns are bytes. */
    CHECK_STR(parse_err("您好 {phone}"),
              "c.tmpl:1:8: field \"phone\" is personal data and never enters a prompt");

    struct ps_copy_template *t = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_copy_template_load(&t, test_tmp("missing.tmpl"), &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot open template");
    const char *path = test_write_file("bad.tmpl", "Dear {name},\n", 13);
    CHECK_INT(ps_copy_template_load(&t, path, &err), PS_ERR_BAD_INPUT);
    CHECK(t == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s:1:6: field \"name\" is personal data and never enters a prompt",
             path);
    CHECK_STR(err.msg, want);
}

/* A stored profile (docs/profiles.md) full of personal data. */
static const char *profile_json =
    "{\"user_id\":\"U000001\",\"run\":1,"
    "\"attributes\":{\"signup_ts\":\"1681173836\",\"gender\":\"F\",\"age\":\"23\","
    "\"city\":\"重庆\",\"name\":\"Zhang Wei\",\"email\":\"zw@example.com\"},"
    "\"features\":{\"browse_count\":41.0,\"top_category_1\":\"clothing\",\"share_1\":0.6,"
    "\"top_category_2\":\"beauty\",\"share_2\":0.4,\"top_category_3\":null},"
    "\"segment\":{\"id\":4,\"name\":\"collecting · clothing\",\"distance\":3.32},"
    "\"rfm\":{\"r\":1,\"f\":1,\"m\":2,\"tier\":\"lost\"},\"lifecycle\":\"dormant\","
    "\"price_sensitivity\":\"low\","
    "\"topics\":[{\"topic\":0,\"weight\":0.72,\"words\":[\"推荐\",\"囤\",\"用了\",\"好\"]},"
    "{\"topic\":7,\"weight\":0.21,\"words\":[\"购\",\"回\"]}],"
    "\"text_vector\":null,\"interest_tags\":[],\"tags\":[\"rfm:lost\"]}";

TEST(copy_fields_from_profile_hold_no_personal_data)
{
    struct ps_copy_fields f;
    struct ps_err err = {0};
    ps_copy_fields_init(&f);
    CHECK_INT(ps_copy_fields_from_profile(&f, profile_json, 3, &err), 0);
    CHECK_STR(f.v[PS_COPY_SEGMENT_NAME], "collecting · clothing");
    CHECK_STR(f.v[PS_COPY_TOP_CATEGORY], "clothing");
    CHECK_STR(f.v[PS_COPY_TOP_CATEGORIES], "clothing, beauty");
    CHECK_STR(f.v[PS_COPY_RFM_TIER], "lost");
    CHECK_STR(f.v[PS_COPY_LIFECYCLE], "dormant");
    CHECK_STR(f.v[PS_COPY_PRICE_SENSITIVITY], "low");
    CHECK_STR(f.v[PS_COPY_TOPIC_WORDS], "推荐 囤 用了");
    CHECK(f.v[PS_COPY_RECOMMENDED_ITEMS] == NULL);
    CHECK(f.v[PS_COPY_TOP_ITEM] == NULL);

    /* A template naming every allowed field carries none of the
     * profile's personal values. */
    struct ps_buf all;
    ps_buf_init(&all);
    for (int i = 0; i < PS_COPY_N_FIELDS; i++)
        ps_buf_printf(&all, "%s={%s}|", ps_copy_field_name((enum ps_copy_field)i),
                      ps_copy_field_name((enum ps_copy_field)i));
    ps_buf_putc(&all, '\0');
    char *p = fill(all.data, &f);
    CHECK_STR(p, "segment_name=collecting · clothing|top_category=clothing|"
                 "top_categories=clothing, beauty|recommended_items=|top_item=|rfm_tier=lost|"
                 "lifecycle=dormant|price_sensitivity=low|topic_words=推荐 囤 用了|");
    const char *pii[] = {"U000001", "1681173836", "23", "重庆", "Zhang", "zw@example.com",
                         "=F|"};
    for (size_t i = 0; i < sizeof pii / sizeof *pii; i++)
        CHECK(p && !strstr(p, pii[i]));
    free(p);
    ps_buf_release(&all);

    /* Every field is reset first: nothing stays from the previous user. */
    ps_copy_fields_set(&f, PS_COPY_TOP_ITEM, "T");
    CHECK_INT(ps_copy_fields_from_profile(&f, "{\"user_id\":\"U2\"}", 0, &err), 0);
    for (int i = 0; i < PS_COPY_N_FIELDS; i++)
        CHECK(f.v[i] == NULL);
    CHECK_INT(ps_copy_fields_from_profile(&f, "[1]", 0, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "profile JSON is not an object");
    CHECK_INT(ps_copy_fields_from_profile(&f, "{\"a\":", 0, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "profile JSON:1:");
    ps_copy_fields_release(&f);
}

TEST(copy_prompt_check_refuses_the_user_id)
{
    struct ps_err err = {0};
    const char *p = "best sellers for U000123 this week";
    CHECK_INT(ps_copy_prompt_check(p, strlen(p), "U000123", &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "prompt for a user contains the user's id; refusing");
    CHECK_INT(ps_copy_prompt_check(p, strlen(p), "U000124", &err), 0);
    CHECK_INT(ps_copy_prompt_check(p, 10, "U000123", &err), 0);   /* only the first 10 bytes */
    CHECK_INT(ps_copy_prompt_check("ab", 2, "", &err), 0);
}

TEST(copy_user_seed_depends_on_seed_and_user_only)
{
    uint64_t a = ps_copy_user_seed(42, "U000001");
    CHECK(a == ps_copy_user_seed(42, "U000001"));
    CHECK(a != ps_copy_user_seed(43, "U000001"));
    CHECK(a != ps_copy_user_seed(42, "U000002"));
    CHECK(a != 42);
}

/* The copy path against the PyTorch reference: the template reproduces
 * the reference prompt; greedy and seeded sampled ids and the decoded
 * text must equal the file's. */
TEST(copy_generate_matches_lmref)
{
    if (!test_have_shared()) {
        fprintf(stderr, "  SKIP: no ../shared\n");
        return;
    }
    json_error_t je;
    json_t *exp = json_load_file(test_shared("lmref/expected/gpt2-tiny-f32.json"), 0, &je);
    CHECK(exp != NULL);
    if (!exp)
        return;
    json_t *g = json_object_get(exp, "generation"), *s = json_object_get(exp, "sampling");
    const char *model = test_shared("lmref/models/gpt2-tiny-f32");

    struct ps_copy_fields f;
    ps_copy_fields_init(&f);
    ps_copy_fields_set(&f, PS_COPY_LIFECYCLE, "perfectly");
    char *prompt = fill("The shoes arrived quickly and fit {lifecycle}.\n", &f);
    CHECK_STR(prompt, json_string_value(json_object_get(g, "prompt")));
    ps_copy_fields_release(&f);

    struct ps_err err = {0};
    struct ps_lm_gen_params gp = ps_lm_gen_default_params();
    json_t *want = json_object_get(g, "new_ids");
    gp.max_new = (int)json_array_size(want);
    gp.stop_at_eos = 0;
    gp.sampler.temperature = 0;
    struct ps_copy_gen *gen = NULL;
    CHECK_INT(ps_copy_gen_new(&gen, model, &gp, 1, &err), 0);
    if (!gen || !prompt) {
        free(prompt);
        json_decref(exp);
        return;
    }
    char *msg = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int trunc = -1;
    CHECK_INT(ps_copy_generate(gen, 0, prompt, strlen(prompt), 7, &msg, &ids, &n, &trunc, &err), 0);
    CHECK_INT(trunc, 0);
    CHECK_INT(n, json_array_size(want));
    size_t same = 0;
    for (size_t i = 0; i < n && i < json_array_size(want); i++)
        same += ids[i] == json_integer_value(json_array_get(want, i));
    CHECK_INT(same, json_array_size(want));
    CHECK_STR(msg, json_string_value(json_object_get(g, "text")));
    free(msg);
    free(ids);
    /* A stop string ends the message before it: the reference text up to
     * its first newline ("or color colorQualité"). */
    const char *stops[] = {"\n", "never"};
    ps_copy_gen_set_stops(gen, stops, 2);
    CHECK_INT(ps_copy_generate(gen, 0, prompt, strlen(prompt), 7, &msg, &ids, &n, NULL, &err), 0);
    const char *ref = json_string_value(json_object_get(g, "text"));
    const char *nl = strchr(ref, '\n');
    CHECK(nl != NULL);
    CHECK_INT(strlen(msg), nl - ref);
    CHECK(strncmp(msg, ref, (size_t)(nl - ref)) == 0);
    CHECK_INT(n, 5);   /* ids up to and including the one that wrote "\n" (198) */
    CHECK_INT(ids[n - 1], 198);
    free(msg);
    free(ids);
    ps_copy_gen_free(gen);

    /* Sampled: the reference's seed, temperature and top-k. */
    json_t *swant = json_object_get(s, "new_ids");
    gp.max_new = (int)json_array_size(swant);
    gp.sampler.temperature = json_number_value(json_object_get(s, "temperature"));
    gp.sampler.top_k = (int)json_integer_value(json_object_get(s, "top_k"));
    gp.sampler.top_p = json_number_value(json_object_get(s, "top_p"));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(s, "seed"));
    CHECK_INT(ps_copy_gen_new(&gen, model, &gp, 2, &err), 0);
    CHECK_INT(ps_copy_gen_n_workers(gen), 2);
    CHECK_INT(ps_copy_generate(gen, 0, prompt, strlen(prompt), seed, &msg, &ids, &n, NULL, &err), 0);
    same = 0;
    for (size_t i = 0; i < n && i < json_array_size(swant); i++)
        same += ids[i] == json_integer_value(json_array_get(swant, i));
    CHECK_INT(same, json_array_size(swant));
    CHECK_STR(msg, json_string_value(json_object_get(s, "text")));
    free(msg);
    free(ids);

    /* Same seed, same message (on either worker); another seed, another
     * message. */
    char *m1 = NULL, *m2 = NULL, *m3 = NULL;
    CHECK_INT(ps_copy_generate(gen, 0, prompt, strlen(prompt), 99, &m1, NULL, NULL, NULL, &err), 0);
    CHECK_INT(ps_copy_generate(gen, 1, prompt, strlen(prompt), 99, &m2, NULL, NULL, NULL, &err), 0);
    CHECK_INT(ps_copy_generate(gen, 0, prompt, strlen(prompt), 100, &m3, NULL, NULL, NULL, &err), 0);
    CHECK_STR(m1, m2);
    CHECK(m1 && m3 && strcmp(m1, m3) != 0);
    free(m1);
    free(m2);
    free(m3);

    /* An over-long prompt keeps its last n_ctx - max_new tokens. */
    struct ps_buf big;
    ps_buf_init(&big);
    for (int i = 0; i < 200; i++)
        ps_buf_append(&big, "x ", 2);
    ps_buf_append(&big, prompt, strlen(prompt));
    CHECK_INT(ps_copy_generate(gen, 0, big.data, big.len, seed, &msg, &ids, &n, &trunc, &err), 0);
    CHECK_INT(trunc, 1);
    CHECK_INT(n, json_array_size(swant));
    free(msg);
    free(ids);
    ps_buf_release(&big);
    CHECK_INT(ps_copy_generate(gen, 0, "", 0, seed, &msg, NULL, NULL, NULL, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "prompt is empty");
    ps_copy_gen_free(gen);

    gp.max_new = 128;
    CHECK_INT(ps_copy_gen_new(&gen, model, &gp, 1, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "max-new 128 leaves no room for a prompt in the model's context of 128");
    CHECK(gen == NULL);
    gp.max_new = 8;
    CHECK_INT(ps_copy_gen_new(&gen, test_shared("lmref/models/bert-tiny-f32"), &gp, 1, &err),
              PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "copy needs a GPT-2 checkpoint, this is BERT");
    free(prompt);
    json_decref(exp);
}
