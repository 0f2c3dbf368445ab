
/* block
 comment */ a = 1; // line comment here
b = 2; //nospace
c=3; /* unterminated
</script>