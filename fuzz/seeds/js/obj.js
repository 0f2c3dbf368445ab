
var o = { a: 1, 'b': 2, c: function(x) { return x; } }; o.c(o.a);
</script>