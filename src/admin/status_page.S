/* The status page, status_page.html, embedded as bytes: ringway_status_page up to (not
   including) ringway_status_page_end. A NUL follows the end, outside the range.
   `.incbin` is resolved by the assembler: meson.build passes -Wa,-I<this directory> and
   makes the object depend on the .html (the compiler's -MD does not see .incbin). */
    .section .rodata.ringway_status_page, "a", @progbits
    .balign 16
    .globl ringway_status_page
    .type ringway_status_page, @object
ringway_status_page:
    .incbin "status_page.html"
    .globl ringway_status_page_end
    .type ringway_status_page_end, @object
ringway_status_page_end:
    .byte 0
    .size ringway_status_page, ringway_status_page_end - ringway_status_page
    .size ringway_status_page_end, 1

/* No executable stack (the linker warns without this note; warnings are errors). */
    .section .note.GNU-stack, "", @progbits
