/* chat.c - chat template detection and formatting (see chat.h). */
#include "chat.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n > len)
        return false;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

enum chat_tmpl chat_detect(const char *tmpl, size_t len)
{
    if (!tmpl)
        return CHAT_TMPL_NONE;
    /* Checked in llama.cpp's order: ChatML first (some ChatML templates
     * mention other families in comments, never the reverse). */
    if (contains(tmpl, len, "<|im_start|>"))
        return CHAT_TMPL_CHATML;
    if (contains(tmpl, len, "<|start_header_id|>") && contains(tmpl, len, "<|end_header_id|>"))
        return CHAT_TMPL_LLAMA3;
    if (contains(tmpl, len, "[INST]"))
        return CHAT_TMPL_LLAMA2;
    return CHAT_TMPL_NONE;
}

static const char *const tmpl_names[] = {"chatml", "llama3", "llama2"};

const char *chat_tmpl_name(enum chat_tmpl t)
{
    if (t < 0 || (size_t)t >= sizeof tmpl_names / sizeof tmpl_names[0])
        return "none";
    return tmpl_names[t];
}

enum chat_tmpl chat_tmpl_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof tmpl_names / sizeof tmpl_names[0]; i++)
        if (name && strcmp(name, tmpl_names[i]) == 0)
            return (enum chat_tmpl)i;
    return CHAT_TMPL_NONE;
}

/* An snprintf-like appender: counts every byte, stores what fits. */
struct sbuf {
    char *out;
    size_t cap;
    size_t len;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, b->len++)
        if (b->len + 1 < b->cap)
            b->out[b->len] = s[i];
}

static void puts_(struct sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* s without leading and trailing whitespace (Jinja's |trim, which the
 * Llama 3 template applies to every message). */
static void puts_trimmed(struct sbuf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && is_space(s[i]))
        i++;
    while (n > i && is_space(s[n - 1]))
        n--;
    put(b, s + i, n - i);
}

static void format_llama3(struct sbuf *b, const char *system, const char *user)
{
    if (system) {
        puts_(b, "<|start_header_id|>system<|end_header_id|>\n\n");
        puts_trimmed(b, system);
        puts_(b, "<|eot_id|>");
    }
    puts_(b, "<|start_header_id|>user<|end_header_id|>\n\n");
    puts_trimmed(b, user);
    puts_(b, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void format_chatml(struct sbuf *b, const char *system, const char *user)
{
    if (system) {
        puts_(b, "<|im_start|>system\n");
        puts_(b, system);
        puts_(b, "<|im_end|>\n");
    }
    puts_(b, "<|im_start|>user\n");
    puts_(b, user);
    puts_(b, "<|im_end|>\n<|im_start|>assistant\n");
}

static void format_llama2(struct sbuf *b, const char *system, const char *user)
{
    puts_(b, "[INST] ");
    if (system) {
        puts_(b, "<<SYS>>\n");
        puts_(b, system);
        puts_(b, "\n<</SYS>>\n\n");
    }
    puts_(b, user);
    puts_(b, " [/INST]");
}

int chat_format(enum chat_tmpl t, const char *system, const char *user,
                char *out, size_t cap)
{
    struct sbuf b = {out, cap, 0};
    if (system && !*system)
        system = NULL;
    if (!user)
        user = "";
    switch (t) {
    case CHAT_TMPL_LLAMA3: format_llama3(&b, system, user); break;
    case CHAT_TMPL_CHATML: format_chatml(&b, system, user); break;
    case CHAT_TMPL_LLAMA2: format_llama2(&b, system, user); break;
    default: return -1;
    }
    if (cap > 0)
        out[b.len < cap ? b.len : cap - 1] = 0;
    return (int)b.len;
}
