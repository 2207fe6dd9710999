/* SPDX-License-Identifier: MIT */
/* params: ${...} templates, checked at load and expanded at dispatch by one parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "json-util.h"
#include "params.h"

static int fake_secret(void *userdata, const char *name, char **ret_value) {
        (void) userdata;
        if (strcmp(name, "api_token") != 0)
                return -ENOENT;
        *ret_value = strdup("s3cr3t-value");
        return *ret_value ? 0 : -ENOMEM;
}

static const TzZone *berlin(void) {
        static TzDb *db;
        const TzZone *z = NULL;
        if (!db)
                assert_int_equal(tzdb_new(NULL, &db), 0);
        assert_int_equal(tzdb_get(db, "Europe/Berlin", &z), 0);
        return z;
}

static ParamContext context(void) {
        return (ParamContext){
                .schedule = "nightly",
                .run_id = "0123456789abcdef",
                .attempt = 2,
                .scheduled = 1710036000, /* 2024-03-10T02:00:00Z = 03:00 CET */
                .now = 1710036005,
                .zone = berlin(),
                .resolve_secret = fake_secret,
        };
}

static void test_expansions(void **state) {
        (void) state;
        static const struct {
                const char *template, *expected;
        } cases[] = {
                { "plain text", "plain text" },
                { "", "" },
                { "${schedule}/${run_id}/${attempt}", "nightly/0123456789abcdef/2" },
                { "${scheduled:%F %T %Z %z}", "2024-03-10 03:00:00 CET +0100" },
                { "${now:%H:%M:%S}", "03:00:05" },
                { "day=${scheduled:%Y-%m-%d}", "day=2024-03-10" },
                { "$$5 and $$$${schedule}", "$5 and $${schedule}" },
                { "$HOME stays, $ alone too $", "$HOME stays, $ alone too $" },
                { "token=${secret:api_token}", "token=s3cr3t-value" },
                { "${env:UDFCRON_TEST_PARAMS}", "from the environment" },
                { "${env:UDFCRON_TEST_UNSET}-", "-" },
        };
        ParamContext ctx = context();
        setenv("UDFCRON_TEST_PARAMS", "from the environment", 1);
        unsetenv("UDFCRON_TEST_UNSET");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *value = NULL, *error = NULL;
                int r = params_expand_string(cases[i].template, &ctx, &value, &error);
                if (r < 0)
                        fail_msg("'%s': %s", cases[i].template, error ?: strerror(-r));
                assert_string_equal(value, cases[i].expected);
                assert_int_equal(params_check(cases[i].template, NULL), 0);
        }
}

static void test_errors(void **state) {
        (void) state;
        static const struct {
                const char *template, *message;
        } cases[] = {
                { "${sheduled:%F}",
                  "unknown reference '${sheduled:%F}' (known: scheduled:FORMAT, now:FORMAT, "
                  "schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)" },
                { "a ${schedule",
                  "unterminated reference '${schedule' (missing '}'; write $$ for a literal $)" },
                { "${scheduled}", "'${scheduled}' needs an argument, as in ${scheduled:%F}" },
                { "${scheduled:}", "'${scheduled:}' needs an argument, as in ${scheduled:%F}" },
                { "${secret:}", "'${secret:}' needs an argument, as in ${secret:NAME}" },
                { "${run_id:x}", "'${run_id}' takes no argument" },
                { "${}", "unknown reference '${}' (known: scheduled:FORMAT, now:FORMAT, schedule, run_id, "
                         "attempt, env:NAME, secret:NAME, output:STEP)" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *error = NULL;
                assert_int_equal(params_check(cases[i].template, &error), -EINVAL);
                assert_non_null(error);
                assert_string_equal(error, cases[i].message);
        }

        ParamContext ctx = context();
        _cleanup_free_ char *value = NULL, *error = NULL;
        assert_int_equal(params_expand_string("${secret:nope}", &ctx, &value, &error), -EINVAL);
        assert_string_equal(error, "secret 'nope': No such file or directory");
        assert_null(value);
}

static void test_json_expands_every_string(void **state) {
        (void) state;
        ParamContext ctx = context();
        _cleanup_(json_freep) cJSON *in = cJSON_Parse("{\"a\":\"${schedule}\",\"n\":3,\"list\":[\"${attempt}"
                                                      "\",true,{\"deep\":\"$$\"}],\"x\":null}");
        _cleanup_(json_freep) cJSON *out = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;

        assert_non_null(in);
        assert_int_equal(params_expand_json(in, &ctx, &out, &error), 0);
        text = cJSON_PrintUnformatted(out);
        assert_string_equal(text,
                            "{\"a\":\"nightly\",\"n\":3,\"list\":[\"2\",true,{\"deep\":\"$\"}],\"x\":null}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_expansions),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_json_expands_every_string),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
