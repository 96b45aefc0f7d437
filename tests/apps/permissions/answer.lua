return function(main)
    process.send(main, "answered")
    return 42
end
