// Decodes a JPEG or PNG held in memory to 8-bit RGB, the way PIL's Image.open(...).convert("RGB") does:
// grayscale is replicated, alpha is dropped (not composited), palettes are expanded, 16-bit samples keep
// their high byte, CMYK JPEGs are converted with PIL's formula, and no gamma or EXIF orientation is
// applied. libjpeg and libpng report errors by longjmp, which Swift cannot catch, so this small C layer
// turns every error into a message and a non-zero status.
#ifndef DW_IMAGE_DECODE_H
#define DW_IMAGE_DECODE_H
#include <stddef.h>

typedef struct {
    int width;
    int height;
    unsigned char *rgb;  // width * height * 3 bytes, row-major; free with dw_image_free
} dw_image;

// 0 on success. On failure `error` holds one line (no trailing newline) and `out->rgb` is NULL.
// Images of more than `max_pixels` pixels are refused before their pixels are allocated.
int dw_image_decode(const unsigned char *data, size_t size, size_t max_pixels, dw_image *out, char *error, size_t error_size);
void dw_image_free(dw_image *image);

#endif
