// text.h — token bytes to terminal cells: UTF-8 decoding, display width, visible escapes.
//
// Tokens can be partial UTF-8 sequences, control characters or newlines. A rendered token is a
// short UTF-8 string whose display width is known, plus flags saying whether it ends a line.
#ifndef DLM_TUI_TEXT_H
#define DLM_TUI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char text[96];  // printable UTF-8 (escapes for what cannot be shown)
    int  width;     // display columns
    bool newline;   // the token contains a line break (drawn as a mark, then the line ends)
} tui_token_text;

// Render raw token bytes. utf8: the terminal can show non-ASCII (else \u escapes).
void tui_render_token(const char *bytes, size_t len, bool utf8, tui_token_text *out);

// Display width of a UTF-8 string (invalid bytes count 1).
int tui_text_width(const char *s);
// Copy at most `cols` columns of s into out (size n), cutting on character boundaries.
void tui_text_clip(const char *s, int cols, char *out, size_t n);

#endif
