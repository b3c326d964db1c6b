// text.c — decoding token bytes for the canvas: wcwidth-aware, newline-aware, escape-safe.
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
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

void tui_text_clip_words(const char *s, int cols, bool utf8, char *out, size_t n) {
    if (tui_text_width(s) <= cols) {
        tui_text_clip(s, cols, out, n);
        return;
    }
    const char *ell = utf8 ? "\xe2\x80\xa6" : "...";
    int ew = utf8 ? 1 : 3;
    if (cols <= ew) {
        tui_text_clip(s, cols, out, n);
        return;
    }
    tui_text_clip(s, cols - ew, out, n);
    // Back up to the last space, unless that throws away most of the room (one long word).
    size_t len = strlen(out);
    size_t cut = len;
    while (cut > 0 && out[cut - 1] != ' ') cut--;
    if (cut > 0 && tui_text_width(out) - (int)(len - cut) >= (cols - ew) / 2) {
        while (cut > 0 && out[cut - 1] == ' ') cut--;
        out[cut] = 0;
    }
    if (strlen(out) + strlen(ell) + 1 <= n) strcat(out, ell);
}

int tui_text_wrap(const char *s, int cols, char lines[][256], int max_lines) {
    int n = 0;
    while (*s && n < max_lines) {
        while (*s == ' ') s++;
        if (!*s) break;
        char buf[256];
        tui_text_clip(s, cols, buf, sizeof buf);
        size_t len = strlen(buf);
        if (len < strlen(s) && s[len] != ' ') { // break at the last space that fits
            size_t cut = len;
            while (cut > 0 && buf[cut - 1] != ' ') cut--;
            if (cut > 0) len = cut;
        }
        if (n == max_lines - 1 && len < strlen(s)) { // the last line left: say it goes on
            tui_text_clip_words(s, cols, true, lines[n++], 256);
            break;
        }
        snprintf(lines[n], 256, "%.*s", (int)len, s);
        for (size_t e = strlen(lines[n]); e > 0 && lines[n][e - 1] == ' '; e--) lines[n][e - 1] = 0;
        n++;
        s += len;
    }
    return n;
}

int tui_text_search(const char *const *texts, const size_t *lens, int n, const char *query, unsigned char *starts,
                    unsigned char *covered) {
    size_t q = strlen(query), total = 0;
    memset(starts, 0, (size_t)n);
    if (covered) memset(covered, 0, (size_t)n);
    if (!q || n <= 0) return 0;
    for (int i = 0; i < n; i++) total += texts[i] ? lens[i] : 1;
    // One string of the whole text; a position without text (a mask) is a byte no query holds.
    char *all = malloc(total + 1);
    int *owner = malloc((total + 1) * sizeof *owner);
    if (!all || !owner) {
        free(all);
        free(owner);
        return 0;
    }
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t l = texts[i] ? lens[i] : 1;
        if (texts[i]) memcpy(all + o, texts[i], l);
        else all[o] = 0;
        for (size_t k = 0; k < l; k++) owner[o + k] = i;
        o += l;
    }
    int found = 0;
    for (size_t at = 0; at + q <= total; at++) {
        if (memcmp(all + at, query, q) != 0) continue;
        found++;
        starts[owner[at]] = 1;
        if (covered)
            for (size_t k = at; k < at + q; k++) covered[owner[k]] = 1;
    }
    free(all);
    free(owner);
    return found;
}
