
eval("var a=1;function f(b){return b+a}");eval('eval(\"x=1\")');
</script>