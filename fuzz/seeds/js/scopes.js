
var x = 1; function f() { x = 2; var x; y = x; } function g(x) { return function(y) { return x + y + z; }; } var z = g(1)(2);
</script>