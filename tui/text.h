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

// Like tui_text_clip, but a text that does not fit ends at a word boundary with an ellipsis
// ("…", or "..." without utf8) instead of being cut mid-word.
void tui_text_clip_words(const char *s, int cols, bool utf8, char *out, size_t n);
// Break s into at most max_lines lines of at most cols columns at spaces; the last line ends
// with an ellipsis if text is left over. Returns the number of lines.
int tui_text_wrap(const char *s, int cols, char lines[][256], int max_lines);

// Search the text of n positions read as one string (the tokens concatenated, so a match can
// span tokens: "17" over "1" "7", "smallest is" over " smallest" " is"). texts[i] NULL (a mask)
// breaks matches. Sets starts[i] where a match begins and covered[i] (optional) for every position
// a match touches; returns the number of matches.
int tui_text_search(const char *const *texts, const size_t *lens, int n, const char *query, unsigned char *starts,
                    unsigned char *covered);

#endif
