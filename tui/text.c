// text.c — decoding token bytes for the canvas: wcwidth-aware, newline-aware, escape-safe.
#include "text.h"

#include <stdio.h>
#include <string.h>
#include <wchar.h>

// Decode one UTF-8 character; returns its length or 0 if invalid.
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    if (!n) return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!len || (size_t)len > n) return 0;
    uint32_t v = s[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

static int cp_width(uint32_t cp) {
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;
}

static void put(tui_token_text *o, size_t *n, const char *s, size_t len, int width) {
    if (*n + len + 1 > sizeof o->text) return; // long tokens are cut
    memcpy(o->text + *n, s, len);
    *n += len;
    o->text[*n] = 0;
    o->width += width;
}

void tui_render_token(const char *bytes, size_t len, bool utf8, tui_token_text *o) {
    size_t n = 0;
    o->text[0] = 0;
    o->width = 0;
    o->newline = false;
    const unsigned char *s = (const unsigned char *)bytes;
    char esc[16];
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_next(s + i, len - i, &cp);
        if (!k) { // a byte of a partial or invalid sequence
            int e = snprintf(esc, sizeof esc, "\\x%02X", s[i]);
            put(o, &n, esc, (size_t)e, e);
            i++;
            continue;
        }
        if (cp == '\n') {
            put(o, &n, utf8 ? "\xe2\x8f\x8e" : "\\n", utf8 ? 3 : 2, utf8 ? 1 : 2); // ⏎
            o->newline = true;
        } else if (cp == '\t') {
            put(o, &n, "    ", 4, 4);
        } else if (cp == '\r') {
            put(o, &n, "\\r", 2, 2);
        } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            int e = snprintf(esc, sizeof esc, "\\x%02X", cp);
            put(o, &n, esc, (size_t)e, e);
        } else if (cp < 0x80) {
            char c = (char)cp;
            put(o, &n, &c, 1, 1);
        } else if (!utf8) {
            int e = snprintf(esc, sizeof esc, cp > 0xffff ? "\\U%08X" : "\\u%04X", cp);
            put(o, &n, esc, (size_t)e, e);
        } else {
            int w = cp_width(cp);
            if (w == 0 && o->width == 0) { // a lone combining mark: give it a base so it shows
                put(o, &n, "\xe2\x97\x8c", 3, 1); // ◌
            }
            put(o, &n, (const char *)s + i, (size_t)k, w);
        }
        i += (size_t)k;
    }
}

int tui_text_width(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    int w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_next(s + i, n - i, &cp);
        if (!k) {
            w++, i++;
            continue;
        }
        w += cp < 0x80 ? 1 : cp_width(cp);
        i += (size_t)k;
    }
    return w;
}

void tui_text_clip(const char *str, int cols, char *out, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str), o = 0;
    int w = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_next(s + i, len - i, &cp);
        int cw = !k ? 1 : cp < 0x80 ? 1 : cp_width(cp);
        if (!k) k = 1;
        if (w + cw > cols || o + (size_t)k + 1 > n) break;
        memcpy(out + o, s + i, (size_t)k);
        o += (size_t)k;
        w += cw;
        i += (size_t)k;
    }
    out[o] = 0;
}
