/* test_chat.c - template detection and the exact prompt strings, written
 * out from each family's published format. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "chat.h"

/* Excerpts of real tokenizer.chat_template values. */
static const char *const TMPL_QWEN =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char *const TMPL_LLAMA3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
static const char *const TMPL_LLAMA2 =
    "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
    "messages[0]['content'] | trim + '\\n<</SYS>>\\n\\n' %}{% endif %}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}"
    "{% endif %}{% endfor %}";

static void test_detect(void)
{
    CU_ASSERT_EQUAL(chat_detect(TMPL_QWEN, strlen(TMPL_QWEN)), CHAT_TMPL_CHATML);
    CU_ASSERT_EQUAL(chat_detect(TMPL_LLAMA3, strlen(TMPL_LLAMA3)), CHAT_TMPL_LLAMA3);
    CU_ASSERT_EQUAL(chat_detect(TMPL_LLAMA2, strlen(TMPL_LLAMA2)), CHAT_TMPL_LLAMA2);
    CU_ASSERT_EQUAL(chat_detect("{{ messages }}", 14), CHAT_TMPL_NONE);
    CU_ASSERT_EQUAL(chat_detect(NULL, 0), CHAT_TMPL_NONE);
    /* the length bounds the search: the marker past len is not seen */
    CU_ASSERT_EQUAL(chat_detect("abc[INST]", 5), CHAT_TMPL_NONE);
    /* one of the two Llama 3 markers is not enough */
    CU_ASSERT_EQUAL(chat_detect("<|start_header_id|>", 19), CHAT_TMPL_NONE);
}

static void test_names(void)
{
    CU_ASSERT_EQUAL(chat_tmpl_from_name("llama3"), CHAT_TMPL_LLAMA3);
    CU_ASSERT_EQUAL(chat_tmpl_from_name("chatml"), CHAT_TMPL_CHATML);
    CU_ASSERT_EQUAL(chat_tmpl_from_name("llama2"), CHAT_TMPL_LLAMA2);
    CU_ASSERT_EQUAL(chat_tmpl_from_name("llama4"), CHAT_TMPL_NONE);
    CU_ASSERT_STRING_EQUAL(chat_tmpl_name(CHAT_TMPL_LLAMA2), "llama2");
    CU_ASSERT_STRING_EQUAL(chat_tmpl_name(CHAT_TMPL_NONE), "none");
}

static void check(enum chat_tmpl t, const char *sys, const char *user, const char *want)
{
    char buf[512];
    int n = chat_format(t, sys, user, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, (int)strlen(want));
    CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_chatml(void)
{
    check(CHAT_TMPL_CHATML, "You are terse.", "Hi there",
          "<|im_start|>system\nYou are terse.<|im_end|>\n"
          "<|im_start|>user\nHi there<|im_end|>\n"
          "<|im_start|>assistant\n");
    check(CHAT_TMPL_CHATML, NULL, "Hi",
          "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    check(CHAT_TMPL_CHATML, "", "Hi", /* empty system: no system turn */
          "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

static void test_llama3(void)
{
    check(CHAT_TMPL_LLAMA3, "You are terse.", "  Hi there\n",
          "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check(CHAT_TMPL_LLAMA3, NULL, "Hi",
          "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_llama2(void)
{
    check(CHAT_TMPL_LLAMA2, "You are terse.", "Hi there",
          "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST]");
    check(CHAT_TMPL_LLAMA2, NULL, "Hi", "[INST] Hi [/INST]");
}

static void test_sizing(void)
{
    const char *want = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    CU_ASSERT_EQUAL(chat_format(CHAT_TMPL_CHATML, NULL, "Hi", NULL, 0), (int)strlen(want));
    char small[10];
    memset(small, 'x', sizeof small);
    CU_ASSERT_EQUAL(chat_format(CHAT_TMPL_CHATML, NULL, "Hi", small, sizeof small),
                    (int)strlen(want));
    CU_ASSERT_EQUAL(memcmp(small, want, 9), 0);
    CU_ASSERT_EQUAL(small[9], 0);
    CU_ASSERT_EQUAL(chat_format(CHAT_TMPL_NONE, NULL, "Hi", small, sizeof small), -1);
}

void suite_chat(void)
{
    CU_pSuite s = CU_add_suite("chat", NULL, NULL);
    CU_add_test(s, "detect", test_detect);
    CU_add_test(s, "names", test_names);
    CU_add_test(s, "chatml", test_chatml);
    CU_add_test(s, "llama3", test_llama3);
    CU_add_test(s, "llama2", test_llama2);
    CU_add_test(s, "sizing", test_sizing);
}
