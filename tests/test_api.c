/* test_api.c - the umbrella header compiles and the version is sane. */
#include "test.h"

#include "persona/persona.h"

TEST(api_umbrella_header_and_version)
{
    /* Every module header included together: no clashing declarations. */
    CHECK(strlen(PERSONA_VERSION) >= 5);
    CHECK_STR(ps_status_str(PS_ERR_BAD_INPUT), "bad input");
}
