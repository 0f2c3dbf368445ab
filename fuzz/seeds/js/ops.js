
a>>>=b; a>>=c; a!==b; a===b; a&&b||!c; a++ + ++b; a-- - --b; x ? y : z; ~a ^ b | c & d % e;
</script>