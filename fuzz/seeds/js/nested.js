
function outer(a, b) { var c = a; function inner(d) { var e = d + c + b; return e; } var f = 1, g = 2; return inner(c); } outer(1,2); var h; h = outer;
</script>