/* unicode.c - code point classes, UTF-8, GPT-2's byte mapping.
 * See unicode.h; the tables are in unicode_data.c (generated). */
#include "unicode.h"

/* ---- classes ------------------------------------------------------------ */

enum uc_class uc_class_of(uint32_t cp)
{
    int lo = 0, hi = uc_n_ranges - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < uc_ranges[mid].first)
            hi = mid - 1;
        else if (cp > uc_ranges[mid].last)
            lo = mid + 1;
        else
            return (enum uc_class)uc_ranges[mid].cls;
    }
    return UC_C;
}

static bool uc_is_space(uint32_t cp)
{
    for (int i = 0; i < uc_n_space; i++)
        if (cp >= uc_space[i].first && cp <= uc_space[i].last)
            return true;
    return false;
}

unsigned uc_flags(uint32_t cp)
{
    if (cp == UC_OUT)
        return 0;
    unsigned f = UC_F_IN;
    /* ASCII without the binary search: the pre-tokenizers ask for every
     * code point, and most text is ASCII. */
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return f | UC_F_LETTER;
        if (cp >= '0' && cp <= '9')
            return f | UC_F_NUMBER;
        if ((cp >= 0x09 && cp <= 0x0D) || cp == ' ')
            return f | UC_F_SPACE;
    }
    switch (uc_class_of(cp)) {
    case UC_L: f |= UC_F_LETTER; break;
    case UC_N: f |= UC_F_NUMBER; break;
    case UC_P: f |= UC_F_PUNCT; break;
    default: break;
    }
    if (cp >= 0x85 && uc_is_space(cp))
        f |= UC_F_SPACE;
    return f;
}

/* ---- UTF-8 -------------------------------------------------------------- */

size_t utf8_len_from_lead(unsigned char lead)
{
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                          1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

static bool utf8_cont(const char *s, size_t i)
{
    return ((unsigned char)s[i] & 0xC0) == 0x80;
}

uint32_t utf8_decode(const char *s, size_t avail, size_t *n)
{
    const unsigned char b0 = (unsigned char)s[0];
    uint32_t cp;
    *n = 1;
    if (!(b0 & 0x80))
        return b0;
    if (!(b0 & 0x40))
        return 0xFFFD; /* a continuation byte where a character starts */
    if (!(b0 & 0x20)) {
        if (avail < 2 || !utf8_cont(s, 1))
            return 0xFFFD;
        *n = 2;
        return ((uint32_t)(b0 & 0x1F) << 6) | ((unsigned char)s[1] & 0x3F);
    }
    if (!(b0 & 0x10)) {
        if (avail < 3 || !utf8_cont(s, 1) || !utf8_cont(s, 2))
            return 0xFFFD;
        *n = 3;
        return ((uint32_t)(b0 & 0x0F) << 12) |
               ((uint32_t)((unsigned char)s[1] & 0x3F) << 6) |
               ((unsigned char)s[2] & 0x3F);
    }
    if (!(b0 & 0x08)) {
        if (avail < 4 || !utf8_cont(s, 1) || !utf8_cont(s, 2) || !utf8_cont(s, 3))
            return 0xFFFD;
        cp = ((uint32_t)(b0 & 0x07) << 18) |
             ((uint32_t)((unsigned char)s[1] & 0x3F) << 12) |
             ((uint32_t)((unsigned char)s[2] & 0x3F) << 6) |
             ((unsigned char)s[3] & 0x3F);
        if (cp > 0x10FFFF)
            return 0xFFFD;
        *n = 4;
        return cp;
    }
    return 0xFFFD;
}

size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp <= 0x7F) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- GPT-2 byte <-> code point ------------------------------------------ */

/* The bytes GPT-2 keeps as themselves: '!'..'~', U+00A1..U+00AC,
 * U+00AE..U+00FF. The other 68 (controls, space, DEL, U+0080..U+00A0,
 * soft hyphen) become U+0100 + their rank among those 68. */
static bool gpt2_byte_is_self(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

uint32_t gpt2_byte_to_cp(uint8_t b)
{
    if (gpt2_byte_is_self(b))
        return b;
    uint32_t rank = 0;
    for (unsigned x = 0; x < b; x++)
        rank += !gpt2_byte_is_self(x);
    return 0x100 + rank;
}

int gpt2_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return gpt2_byte_is_self(cp) ? (int)cp : -1;
    uint32_t rank = cp - 0x100;
    for (unsigned x = 0; x < 256; x++)
        if (!gpt2_byte_is_self(x) && rank-- == 0)
            return (int)x;
    return -1;
}
